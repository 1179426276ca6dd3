"""Exporters: render Files for a production host from an exported Plan. Only the command writes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tandem.config import SOURCE_DEFAULT, Config
from tandem.errors import DependencyError, UsageError
from tandem.exporters.caddy import caddy_files
from tandem.exporters.common import ExportOptions
from tandem.exporters.nginx import nginx_files
from tandem.exporters.procfile import procfile_files
from tandem.exporters.supervisor import supervisor_files
from tandem.exporters.systemd import systemd_files
from tandem.exporters.validate import check_units, nginx_conf
from tandem.plan import File, Plan

EXPORTERS: dict[str, Callable[[Plan, ExportOptions], tuple[File, ...]]] = {
    "nginx": lambda plan, _: nginx_files(plan),
    "caddy": lambda plan, _: caddy_files(plan),
    "systemd": systemd_files,
    "procfile": lambda plan, _: procfile_files(plan),
    "supervisor": supervisor_files,
}


def export_files(target: str, plan: Plan, options: ExportOptions | None = None) -> tuple[File, ...]:
    try:
        exporter = EXPORTERS[target]
    except KeyError:
        raise UsageError(
            f"unknown export target {target!r}", hint=f"choose one of {', '.join(EXPORTERS)}"
        ) from None
    return exporter(plan, options or ExportOptions())


def check_export(
    target: str, files: tuple[File, ...], config: Config, environ: Mapping[str, str]
) -> str | None:
    """Validate the rendered files with the real tool, as serve does before it starts (``nginx -t``).
    Raises ConfigError when the tool refuses them; returns a warning when the tool is not on this
    machine (the values were still checked and quoted by tandem itself)."""
    units = check_units(files) if target == "systemd" else None
    if any(f.path.endswith("Caddyfile") for f in files):  # export caddy, or the others with --proxy caddy
        return check_caddyfile(files, config, environ) or units
    conf = nginx_conf(target, files)
    if conf is None:
        return units
    from tandem.programs import require_nginx
    from tandem.proxies.nginx_check import check_server_block

    try:
        nginx = require_nginx(config, environ)
    except DependencyError as error:
        if config.sources.get("nginx", SOURCE_DEFAULT) != SOURCE_DEFAULT:
            raise  # an nginx the user named (--nginx, TANDEM_NGINX) must be there
        return f"the nginx config was not checked with nginx -t: {error}"
    check_server_block(nginx, conf.content, conf.path.rsplit("/", 1)[-1])
    return units


def check_caddyfile(files: tuple[File, ...], config: Config, environ: Mapping[str, str]) -> str | None:
    """``caddy validate`` on the exported Caddyfile (in a scratch directory; nothing is left behind)."""
    import tempfile
    from pathlib import Path

    from tandem.programs import require_caddy
    from tandem.proxies.validate import caddy_validate

    try:
        caddy = require_caddy(config, environ)
    except DependencyError as error:
        if config.sources.get("caddy", SOURCE_DEFAULT) != SOURCE_DEFAULT:
            raise
        return f"the Caddyfile was not checked with caddy validate: {error}"
    conf = next(f for f in files if f.path.endswith("Caddyfile"))
    with tempfile.TemporaryDirectory(prefix="tandem-caddy-validate-") as scratch:
        path = Path(scratch) / "Caddyfile"
        path.write_text(conf.content, encoding="utf-8")
        caddy_validate(caddy, path)
    return None
