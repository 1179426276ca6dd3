"""What ``serve`` does before it starts anything: run tandem's checks for the chosen mode (errors refuse to
start, warnings are shown as one block), choose the channel layer, and settle the static files.

What ``check`` knows, ``serve`` acts on: the same checks, the same severities (one table), and the findings
serve can fix itself (stale static files, a too-short Redis read timeout, no STATIC_ROOT) are fixed and
said so instead of being printed as warnings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.core import checks as django_checks

from tandem.config import Config
from tandem.errors import UsageError
from tandem.layerchoice import LayerChoice
from tandem.project import Project
from tandem.pythonpath import environ_value
from tandem.redishosts import redis_timeout_fix


class ChecksFailed(UsageError):
    """serve found check errors: nothing was started."""


@dataclass(frozen=True)
class Preflight:
    project: Project  # with tandem's embedded STATIC_ROOT when the project has none
    layer: LayerChoice
    warnings: tuple[str, ...]  # check warnings, shown as one block before Ready
    notes: tuple[str, ...]  # what serve fixed or decided, one line each
    collect_env: Mapping[str, str]  # the environment collectstatic runs with, as the servers get it

    def collect_static(self, say: Callable[[str], None]) -> None:
        """Collects missing or stale static files: once the Plan is built, so a STATIC_ROOT the proxy
        config refuses is refused before anything is copied into it."""
        collect_static_if_stale(self.project, self.collect_env, say)
        precompress_static(self.project, say)


def format_message(message: django_checks.CheckMessage) -> str:
    from tandem.checks.messages import level_name

    line = f"{message.id} {level_name(message)}: {message.msg}"
    return f"{line}\n    hint: {message.hint}" if message.hint else line


def run_checks(
    settings: Any, environ: Mapping[str, str], cli: Mapping[str, object], config: Config
) -> tuple[Any, list[django_checks.CheckMessage]]:
    """(check context, the warnings to show). Errors raise ChecksFailed with every message and hint."""
    from tandem.checks import blocking, run, warnings
    from tandem.checks.context import CheckContext

    # serving=True: what serve fixes itself in the processes it starts (W010's stale static files, W012's
    # read timeout) is left out; check still reports it, as a deployment without tandem must fix it itself.
    ctx = CheckContext(settings, environ, cli, serving=True)
    if config.skip_checks:
        return ctx, []
    messages = run(ctx, deploy=True)
    errors = blocking(messages)
    if errors:
        body = "\n".join(format_message(m) for m in errors)
        raise ChecksFailed(
            f"tandem check found {len(errors)} error(s) for {config.mode} mode, so nothing was started:\n{body}",
            hint="fix them (tandem check shows every finding), or pass --skip-checks to start anyway",
        )
    return ctx, warnings(messages)


def with_static_root(
    project: Project, environ: Mapping[str, str], notes: list[str], *, prepare: bool = True
) -> Project:
    """A project without STATIC_ROOT gets tandem's own directory, in both modes. ``prepare``: make it (and
    prove it writable) now; ``tandem routes`` only names it."""
    from tandem.staticfiles import embedded_static_root, prepare_embedded_root

    if project.static_root is not None or not project.static_url or "://" in project.static_url:
        return project
    if project.static_url.startswith("//"):
        return project
    if "django.contrib.staticfiles" not in project.installed_apps:
        return project
    root = embedded_static_root(project, environ)
    if prepare:
        prepare_embedded_root(root)
    notes.append(
        f"STATIC_ROOT is not set: static files are collected into {root} and served from there "
        "(set STATIC_ROOT for a deployment of your own)"
    )
    return replace(project, static_root=root, static_root_embedded=True)


def collect_static_if_stale(project: Project, env: Mapping[str, str], say: Callable[[str], None]) -> None:
    from tandem.staticfiles import collectstatic, stale_reason

    if project.static_root is None:
        return
    reason = stale_reason(project)
    if reason is None:
        return
    say(f"collecting static files into {project.static_root} ({reason})")
    collectstatic(project, sys.executable, env)


def precompress_static(project: Project, say: Callable[[str], None]) -> None:
    """Missing or stale .gz/.br siblings of the collected files, whether or not collectstatic just ran
    (STATIC_ROOT may have been collected by the project's own deploy, or by an older tandem)."""
    from tandem.precompress import precompress

    if project.static_root is None:
        return
    line = precompress(project.static_root).summary(project.static_root)
    if line:
        say(line)


def preflight(
    loaded: Any, environ: Mapping[str, str], child_env: Mapping[str, str], *, say: Callable[[str], None]
) -> Preflight:
    """``loaded`` is launcher.Loaded with Django set up; ``child_env`` the environment children start from."""
    config: Config = loaded.config
    ctx, warnings = run_checks(loaded.settings, environ, loaded.cli, config)
    notes: list[str] = []
    if config.skip_checks:
        notes.append("--skip-checks: tandem's deployment checks were not run (tandem check runs them)")
    layer: LayerChoice = ctx.layer_choice
    raised = redis_timeout_fix(loaded.settings, config)
    if raised:
        notes.append(raised)
    project = with_static_root(loaded.project, environ, notes)
    env = dict(child_env)
    env["DJANGO_SETTINGS_MODULE"] = project.settings_module
    env["PYTHONPATH"] = environ_value(project.pythonpath, env.get("PYTHONPATH"))  # as the servers get it
    return Preflight(project, layer, tuple(format_message(m) for m in warnings), tuple(notes), env)
