"""What ``tandem verify`` learns when it runs inside the project: the WebSocket routes (and which are
tandem's own), a real static asset to ask for, who validates a handshake's Origin, the channel layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tandem.errors import TandemError
from tandem.verify.targets import pick_from_manifest, pick_name, pick_static_file, static_url_for

ADMIN_CSS = "admin/css/base.css"


@dataclass(frozen=True)
class OriginCheck:
    """The project's origin validation, evaluated for the site's own Origin in this process."""

    validator: str  # "AllowedHostsOriginValidator (ALLOWED_HOSTS = [...])", "OriginValidator([...])", or ""
    accepts_site: bool  # the site's own Origin passes it (True when there is no validator)


@dataclass(frozen=True)
class Discovered:
    ws_patterns: tuple[str, ...] = ()  # WebSocket route patterns, as written
    own_patterns: tuple[str, ...] = ()  # routes served by tandem's own consumers: frames are safe there
    static_path: str | None = None
    static_source: str = ""  # where the static path came from, for the probe's detail
    diagnostic_token: str | None = None
    origin: OriginCheck | None = None
    uses_redis: bool = False
    inside: bool = False  # run inside a project that loaded
    notes: tuple[str, ...] = ()


def discover(
    environ: Mapping[str, str],
    *,
    project_dir: Path | None,
    settings_module: str | None,
    cwd: Path,
    site_origin: str,
) -> Discovered:
    """The project's facts, when run inside a project.

    Outside a project (no manage.py and no --project) nothing is discovered. A project that fails to
    load raises when --project named it, and is a note otherwise: verify probes the URL either way.
    """
    explicit = project_dir is not None or settings_module is not None
    if not explicit and not (cwd / "manage.py").is_file():
        return Discovered(
            notes=(
                "not run inside a Django project: WebSocket routes come from --ws, and the static file from "
                "--static-path or the root page's links",
            )
        )
    try:
        return _discover(environ, project_dir, settings_module, cwd, site_origin)
    except TandemError as exc:
        if explicit:
            raise
        return Discovered(notes=(f"could not read the project in {cwd}: {exc}",))


def _discover(
    environ: Mapping[str, str],
    project_dir: Path | None,
    settings_module: str | None,
    cwd: Path,
    site_origin: str,
) -> Discovered:
    from tandem.launcher import discover_project_routes, load
    from tandem.runtime.overrides import import_app

    loaded = load({}, environ, project_dir=project_dir, settings_module=settings_module, cwd=cwd)
    project = loaded.project
    table = discover_project_routes(project, loaded.settings)
    routes = table.for_protocol("websocket")
    patterns = tuple(route.pattern for route in routes)
    own = tuple(route.pattern for route in routes if route.target.startswith("tandem."))
    static_path, source, notes = _static_asset(
        project.static_root, project.static_url, project.installed_apps
    )
    origin = origin_check(import_app(project.asgi_app), site_origin, project.allowed_hosts)
    return Discovered(
        ws_patterns=patterns,
        own_patterns=own,
        static_path=static_path,
        static_source=source,
        diagnostic_token=loaded.config.diagnostic_token,
        origin=origin,
        uses_redis="channels_redis" in (project.channel_layer.backend or ""),
        inside=True,
        notes=tuple(notes),
    )


def _static_asset(
    static_root: Path | None, static_url: str | None, installed_apps: tuple[str, ...]
) -> tuple[str | None, str, list[str]]:
    """(URL path, where it came from, notes): the collected manifest, a STATIC_ROOT listing, a file
    collectstatic would publish, or the admin's stylesheet: a real asset the deployment must serve."""
    if not static_url or static_url.startswith(("http://", "https://", "//")):
        return None, "", ([f"STATIC_URL {static_url} is on another host: not probed"] if static_url else [])
    if static_root is not None and static_root.is_dir():
        for picked, source in (
            (pick_from_manifest(static_root), "the collected manifest (staticfiles.json)"),
            (pick_static_file(static_root), f"STATIC_ROOT ({static_root})"),
        ):
            if picked:
                return static_url_for(static_url, picked), source, []
    uncollected = f"STATIC_ROOT ({static_root}) holds no collected file" if static_root else "no STATIC_ROOT"
    publishable = _source_static_name()
    if publishable is not None:
        return static_url_for(static_url, publishable), f"the project's static files ({uncollected})", []
    if "django.contrib.admin" in installed_apps:
        return static_url_for(static_url, ADMIN_CSS), f"django.contrib.admin ({uncollected})", []
    return None, "", [f"{uncollected}, and the project has no static files to ask for"]


def _source_static_name() -> str | None:
    """A file collectstatic would publish, from the project's static finders."""
    try:
        from django.contrib.staticfiles.finders import get_finders

        names = [name for finder in get_finders() for name, _ in finder.list([])]
    except Exception:  # finders misconfigured: `tandem check` reports that; verify just has no file
        return None
    return pick_name(names)


def _unwrap(app: object, depth: int = 0) -> list[object]:
    """``app`` and everything it wraps through ``.application``/``.inner`` (Channels' middleware)."""
    chain = [app]
    while depth < 32:
        inner = getattr(chain[-1], "application", None) or getattr(chain[-1], "inner", None)
        if inner is None or not callable(inner) or inner in chain:
            break
        chain.append(inner)
        depth += 1
    return chain


def origin_check(application: object, site_origin: str, allowed_hosts: tuple[str, ...]) -> OriginCheck:
    """Who validates the Origin of a WebSocket handshake, and whether the site's own Origin passes."""
    entry: object = application
    for layer in _unwrap(application):
        mapping = getattr(layer, "application_mapping", None)
        if isinstance(mapping, Mapping) and "websocket" in mapping:
            entry = mapping["websocket"]
            break
    for layer in _unwrap(entry):
        allowed = getattr(layer, "allowed_origins", None)
        valid = getattr(layer, "valid_origin", None)
        if allowed is not None and callable(valid):
            allowed_list = [str(a) for a in allowed]
            name = (
                f"AllowedHostsOriginValidator (ALLOWED_HOSTS = {allowed_list})"
                if set(allowed_list) >= set(allowed_hosts) and allowed_list
                else f"OriginValidator (allowed_origins = {allowed_list})"
            )
            return OriginCheck(name, bool(_call(valid, urlparse(site_origin))))
    return OriginCheck("", True)


def _call(function: Any, argument: object) -> object:
    try:
        return function(argument)
    except Exception:  # a custom validator that fails here says nothing either way
        return True
