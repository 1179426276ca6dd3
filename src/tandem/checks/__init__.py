"""Deployment checks, as Django system checks (ids tandem.E001..., tandem.W001..., tandem.I001).

Two sets: BASE runs with every ``manage.py`` command that runs checks (cheap, about the project's own
structure), DEPLOY runs with ``manage.py check --deploy`` (about the production setup: hosts, TLS, Redis,
installed versions). ``tandem check`` runs both, with the command line's options on top of the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from django.core import checks

from tandem.checks import apps, layers, multihost, security, serving
from tandem.checks.context import CheckContext
from tandem.checks.messages import level_name
from tandem.checks.severity import blocking, warnings

__all__ = ["BASE", "DEPLOY", "CheckContext", "blocking", "run", "serve_checks", "warnings"]

CheckFn = Callable[[CheckContext], list[checks.CheckMessage]]

BASE: tuple[CheckFn, ...] = (
    serving.check_config,
    apps.check_asgi_importable,
    apps.check_wsgi_importable,
    apps.check_app_settings,
    apps.check_daphne_first,
    layers.check_layer_processes,
    layers.check_groups_without_layer,
    serving.check_read_timeout,
    multihost.check_app_layer,
    multihost.check_edge_secret,
)

DEPLOY: tuple[CheckFn, ...] = (
    security.check_origin_validation,
    security.check_public_origin_allowed,
    security.check_allowed_hosts,
    security.check_proxy_ssl_header,
    security.check_csrf_origins,
    serving.check_static,
    serving.check_conn_max_age,
    apps.check_daphne_version,
    layers.check_redis_reachable,
    layers.check_group_expiry,
    layers.check_redis_read_timeout,
    multihost.check_shared_media,
    multihost.check_edge_upstreams,
    security.note_public_url,
)

TAG = "tandem"


def run(ctx: CheckContext, *, deploy: bool = True) -> list[checks.CheckMessage]:
    """Every message of the chosen sets, minus SILENCED_SYSTEM_CHECKS, errors first."""
    found: list[checks.CheckMessage] = []
    for check in BASE + (DEPLOY if deploy else ()):
        found.extend(check(ctx))
    silenced = set(getattr(ctx.settings, "SILENCED_SYSTEM_CHECKS", ()) or ())
    kept = [m for m in found if m.id not in silenced]
    return sorted(kept, key=lambda m: (-m.level, m.id or ""))


def run_project_checks(
    settings: Any, environ: Mapping[str, str], cli: Mapping[str, object] | None = None
) -> list[checks.CheckMessage]:
    """``tandem check``: both sets. Django must be set up."""
    return run(CheckContext(settings, environ, cli), deploy=True)


def serve_checks(
    settings: Any, environ: Mapping[str, str], cli: Mapping[str, object] | None = None
) -> list[checks.CheckMessage]:
    """``serve``'s run: both sets, for the processes it is about to start (``CheckContext(serving=True)``:
    what tandem fixes itself there, such as W012's read timeout, is left out). ``blocking(messages)`` are
    the errors that refuse to start; ``warnings(messages)`` the block to print before ``Ready:``."""
    return run(CheckContext(settings, environ, cli, serving=True), deploy=True)


def as_dict(message: checks.CheckMessage) -> dict[str, str | None]:
    return {
        "id": message.id,
        "level": level_name(message),
        "message": message.msg,
        "hint": message.hint,
        "obj": str(message.obj),
    }


# --- Django's check framework: the app's ready() registers these two -----------------------------------


def _django_context() -> CheckContext:
    from django.conf import settings

    # The entry point of manage.py check: the environment is read here, as the CLI reads it for tandem check.
    return CheckContext(settings, os.environ)


def django_base_checks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    ctx = _django_context()
    return [m for check in BASE for m in check(ctx)]


def django_deploy_checks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    ctx = _django_context()
    return [m for check in DEPLOY for m in check(ctx)]


def register() -> None:
    """Called from TandemConfig.ready(); registering the same functions again is a no-op."""
    checks.register(django_base_checks, TAG)
    checks.register(django_deploy_checks, TAG, deploy=True)
