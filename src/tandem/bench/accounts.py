"""The logged-in user the fan-out posts as: created in the project's own database for the run, given a
session the way ``django.contrib.auth.login`` would, and removed afterwards.

Runs in the CLI process after ``django.setup()`` (route discovery already did it), so it uses the project's
own settings, user model and session engine.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any


class LoginUnavailable(Exception):
    """The project cannot give the fan-out a logged-in user; the message says why."""


@dataclass(frozen=True)
class BenchLogin:
    username: str
    cookie: str  # "sessionid=KEY", ready for a Cookie header
    session_key: str
    user_pk: Any


def migrate_if_needed(say: Callable[[str], None]) -> None:
    """Apply unapplied migrations: the fan-out writes users, sessions and messages."""
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            say(
                f"applying {len(pending)} unapplied migration(s) to the project's database (the fan-out needs it)"
            )
            call_command("migrate", interactive=False, verbosity=0)
    except Exception as exc:
        raise LoginUnavailable(f"could not bring the database up to date: {exc}") from None
    finally:
        connections.close_all()


def create_login() -> BenchLogin:
    from django.conf import settings

    installed = set(getattr(settings, "INSTALLED_APPS", ()))
    for app in ("django.contrib.auth", "django.contrib.sessions"):
        if app not in installed:
            raise LoginUnavailable(f"{app} is not installed: the fan-out needs a logged-in user to post")
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.db import connections

    model = get_user_model()
    username = f"tandem-bench-{secrets.token_hex(4)}"
    try:
        user = model._default_manager.create_user(**{model.USERNAME_FIELD: username}, password=None)  # type: ignore[attr-defined]
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store[SESSION_KEY] = user._meta.pk.value_to_string(user)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save()
    except Exception as exc:
        raise LoginUnavailable(f"could not create a user and session for the fan-out: {exc}") from None
    finally:
        # Servers write the same database next; an idle connection here must not hold a lock.
        connections.close_all()
    key = str(store.session_key)
    return BenchLogin(username, f"{settings.SESSION_COOKIE_NAME}={key}", key, user.pk)


def remove_login(login: BenchLogin) -> None:
    """Delete the session and the user (their messages stay, as any deleted user's would)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections

    try:
        import_module(settings.SESSION_ENGINE).SessionStore(session_key=login.session_key).delete()
        get_user_model()._default_manager.filter(pk=login.user_pk).delete()
    finally:
        connections.close_all()
