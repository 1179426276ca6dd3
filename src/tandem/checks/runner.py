"""``tandem check``: load the project without starting anything, run both check sets, report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core import checks

from tandem.checks import as_dict, run
from tandem.checks.context import CheckContext
from tandem.checks.messages import level_name


@dataclass(frozen=True)
class CheckReport:
    mode: str
    procs: int
    settings_module: str
    messages: tuple[checks.CheckMessage, ...]

    @property
    def errors(self) -> int:
        return sum(1 for m in self.messages if m.level >= checks.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for m in self.messages if checks.WARNING <= m.level < checks.ERROR)

    def summary(self) -> str:
        counts = f"{self.errors} error(s), {self.warnings} warning(s)" if self.messages else "no issues"
        return f"tandem check: {counts} ({self.mode} mode, {self.procs} Daphne process(es), {self.settings_module})"

    def lines(self) -> list[str]:
        out = []
        for message in self.messages:
            out.append(f"{message.id} {level_name(message)}: {message.msg}")
            if message.hint:
                out.append(f"    hint: {message.hint}")
        out.append(self.summary())
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "procs": self.procs,
            "settings": self.settings_module,
            "errors": self.errors,
            "warnings": self.warnings,
            "messages": [as_dict(m) for m in self.messages],
        }


def check_project(
    cli: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    project_dir: Path | None = None,
    settings_module: str | None = None,
    cwd: Path | None = None,
    pythonpath: tuple[Path, ...] = (),
) -> CheckReport:
    """Import the settings, set Django up and run every tandem check. Only an unloadable project raises
    (ProjectError); everything else, including invalid tandem options, is a check message."""
    from tandem.launcher import setup_django
    from tandem.project import open_project

    # As serve finds the project: without manage.py from DJANGO_SETTINGS_MODULE/--settings, sys.path in
    # python -m django's order.
    location, settings = open_project(project_dir, settings_module, environ, cwd or Path.cwd(), pythonpath)
    module = location.settings_module
    setup_django()
    ctx = CheckContext(settings, environ, cli)
    messages = run(ctx, deploy=True)
    return CheckReport(ctx.mode, ctx.daphne_procs, module, tuple(messages))
