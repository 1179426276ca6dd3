"""Exporters: render Files for a production host from an exported Plan. Only the command writes them."""

from __future__ import annotations

from collections.abc import Callable

from tandem.errors import UsageError
from tandem.exporters.nginx import nginx_files
from tandem.plan import File, Plan

EXPORTERS: dict[str, Callable[[Plan], tuple[File, ...]]] = {"nginx": nginx_files}


def export_files(target: str, plan: Plan) -> tuple[File, ...]:
    try:
        exporter = EXPORTERS[target]
    except KeyError:
        raise UsageError(
            f"unknown export target {target!r}", hint=f"choose one of {', '.join(EXPORTERS)}"
        ) from None
    return exporter(plan)
