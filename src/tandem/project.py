"""Finds the Django project: root, settings module, ASGI/WSGI app paths, static/media, channel layer.

Every failure is a ProjectError naming what was looked for, where, and how to fix it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.apppaths import check_app_path, normalize_app_path
from tandem.errors import ProjectError, UsageError
from tandem.projectfiles import nearby_projects, settings_candidates, settings_module_from_manage
from tandem.pythonpath import apply, search_path
from tandem.tracebacks import exception_line, where_in

__all__ = [
    "ChannelLayer",
    "Location",
    "Project",
    "check_app_path",
    "discover",
    "find_root",
    "load_settings",
    "locate",
    "normalize_app_path",
    "open_project",
    "resolve_settings_module",
    "settings_module_from_manage",
]

INMEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
REDIS_LAYER = "channels_redis.core.RedisChannelLayer"


@dataclass(frozen=True)
class ChannelLayer:
    backend: str | None  # dotted class path; None when CHANNEL_LAYERS has no "default"
    source: str  # "settings" or "--channel-layer"

    @property
    def cross_process(self) -> bool:
        """Whether a group message sent in one process reaches consumers in another."""
        return self.backend is not None and self.backend != INMEMORY_LAYER

    @property
    def name(self) -> str:
        return self.backend.rsplit(".", 1)[-1] if self.backend else "none"


@dataclass(frozen=True)
class Project:
    root: Path
    settings_module: str
    settings_source: str
    asgi_app: str  # "module:attr", as Daphne takes it
    asgi_source: str
    wsgi_app: str  # "module:attr", as Gunicorn takes it
    wsgi_source: str
    static_url: str | None
    static_root: Path | None
    media_url: str | None
    media_root: Path | None
    channel_layer: ChannelLayer
    allowed_hosts: tuple[str, ...]
    debug: bool
    installed_apps: tuple[str, ...]
    data_upload_max_memory_size: int | None
    static_root_embedded: bool = False  # STATIC_ROOT is unset: static_root is tandem's own directory
    root_source: str = "the current directory"
    sys_path: tuple[str, ...] = ()  # see tandem.pythonpath: in front here, PYTHONPATH of every child
    sys_path_note: str = ""

    @property
    def pythonpath(self) -> tuple[str, ...]:
        """What goes first on every child's PYTHONPATH."""
        return self.sys_path or (str(self.root),)

    @property
    def package(self) -> str:
        """The project package: the first component of the settings module."""
        return self.settings_module.split(".", 1)[0]

    @property
    def probe_host(self) -> str:
        """A Host header Django accepts, for probes."""
        for host in self.allowed_hosts:
            if host not in ("*", "") and not host.startswith("."):
                return host
        return "localhost"


def find_root(project_dir: Path | None, cwd: Path, *, settings_given: bool = False) -> Path:
    """The project directory: ``--project`` if given, else the current directory. It must hold manage.py
    unless a settings module is given (``--settings``/``DJANGO_SETTINGS_MODULE``): then it is served like
    ``python -m django`` serves it, from that directory without a manage.py."""
    root = (project_dir or cwd).resolve()
    if not root.is_dir():
        raise ProjectError(
            f"project directory {root} (from --project) does not exist",
            hint="pass the directory that holds manage.py",
        )
    if not settings_given and not (root / "manage.py").is_file():
        where = "given by --project" if project_dir else "the current directory"
        nearby = nearby_projects(root)
        if nearby:
            hint = f"found one in {nearby[0]}: run tandem there or pass --project {nearby[0]}"
            if len(nearby) > 1:
                hint += f" (also nearby: {', '.join(str(n) for n in nearby[1:])})"
        else:
            hint = (
                "run tandem in the directory that holds manage.py, pass --project DIR, or name the settings "
                "with --settings (or DJANGO_SETTINGS_MODULE) to serve this directory like python -m django"
            )
        raise ProjectError(f"not a Django project: no manage.py in {root} ({where})", hint=hint)
    return root


@dataclass(frozen=True)
class Location:
    """Where the project is and how it is imported, each with where it came from (``tandem config``)."""

    root: Path
    root_source: str
    settings_module: str
    settings_source: str
    sys_path: tuple[str, ...]  # in front of sys.path here, and PYTHONPATH of every child
    sys_path_note: str = ""  # why the order differs from python -m django's, "" when it does not


def check_pythonpath(dirs: Sequence[Path], cwd: Path) -> tuple[Path, ...]:
    checked = []
    for directory in dirs:
        path = directory if directory.is_absolute() else cwd / directory
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise UsageError(
                f"--pythonpath {directory} {what}",
                hint="pass a directory to put on sys.path, as django-admin takes",
            )
        checked.append(path.resolve())
    return tuple(checked)


def locate(
    project_dir: Path | None,
    settings_cli: str | None,
    environ: Mapping[str, str],
    cwd: Path,
    pythonpath: Sequence[Path] = (),
) -> Location:
    """The project root, its settings module and the sys.path to import it with (see tandem.pythonpath)."""
    extra = check_pythonpath(pythonpath, cwd)
    given = bool(settings_cli or environ.get("DJANGO_SETTINGS_MODULE"))
    root = find_root(project_dir, cwd, settings_given=given)
    has_manage = (root / "manage.py").is_file()
    origin = "--project" if project_dir else "the current directory"
    root_source = (
        f"{origin}, holds manage.py" if has_manage else f"{origin}, no manage.py (like python -m django)"
    )
    module, module_source = resolve_settings_module(settings_cli, environ, root)
    path = search_path(extra, root, cwd, module)
    return Location(root, root_source, module, module_source, tuple(path.as_strings()), path.note)


def open_project(
    project_dir: Path | None,
    settings_cli: str | None,
    environ: Mapping[str, str],
    cwd: Path,
    pythonpath: Sequence[Path] = (),
) -> tuple[Location, Any]:
    """``locate`` then ``load_settings``: what every command that imports the project starts with."""
    location = locate(project_dir, settings_cli, environ, cwd, pythonpath)
    settings = load_settings(
        location.root, location.settings_module, location.settings_source, location.sys_path
    )
    return location, settings


def _candidates_hint(root: Path, fix: str) -> str:
    candidates = settings_candidates(root)
    if not candidates:
        return f"{fix} (no settings module found under {root})"
    shown = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
    return f"{fix}; settings modules under {root}: {shown}"


# How to fix a settings module name, by where it came from.
_SETTINGS_FIX = {
    "--settings": "fix --settings",
    "DJANGO_SETTINGS_MODULE": "fix or unset the DJANGO_SETTINGS_MODULE environment variable",
    "manage.py": "fix DJANGO_SETTINGS_MODULE in manage.py, or pass --settings",
}


def resolve_settings_module(cli_value: str | None, environ: Mapping[str, str], root: Path) -> tuple[str, str]:
    """``--settings`` > ``DJANGO_SETTINGS_MODULE`` > manage.py. Returns (module, source)."""
    if cli_value:
        return cli_value, "--settings"
    if environ.get("DJANGO_SETTINGS_MODULE"):
        return environ["DJANGO_SETTINGS_MODULE"], "DJANGO_SETTINGS_MODULE"
    found = settings_module_from_manage(root / "manage.py")
    if found:
        return found, "manage.py"
    raise ProjectError(
        f"no settings module: --settings not given, DJANGO_SETTINGS_MODULE not set, and {root / 'manage.py'} "
        "does not set it to a plain module name",
        hint=_candidates_hint(root, "pass --settings, e.g. --settings mysite.settings"),
    )


def load_settings(root: Path, module: str, source: str, sys_path: Sequence[str] = ()) -> Any:
    """Imports the settings module with ``sys_path`` (default: the project root) in front of sys.path and
    returns django.conf.settings."""
    apply(list(sys_path) or [str(root)], sys.path)
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if module_missing(exc, module):
            raise ProjectError(
                f"settings module {module!r} (from {source}) not found in {' or '.join(sys_path) or root}",
                hint=_candidates_hint(root, _SETTINGS_FIX.get(source, f"fix {source}")),
            ) from None
        raise ProjectError(
            f"settings module {module!r} (from {source}) failed to import: {exception_line(exc)}"
            f"{where_in(exc, root)}",
            hint="install the missing package or fix the import in your settings",
        ) from None
    except Exception as exc:
        raise ProjectError(
            f"settings module {module!r} (from {source}) failed to import: {exception_line(exc)}"
            f"{where_in(exc, root)}",
            hint="fix that error in your settings; python manage.py check shows the full traceback",
        ) from None
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces Django to configure itself, surfacing errors here
    except Exception as exc:
        raise ProjectError(
            f"settings {module!r} are invalid: {exception_line(exc)}",
            hint="python manage.py check shows the full error",
        ) from None
    return settings


def module_missing(exc: ImportError, module: str) -> bool:
    """True when the ImportError is about ``module`` (or a parent) itself, not something it imports."""
    name = getattr(exc, "name", None)
    return name is not None and (module == name or module.startswith(name + "."))


def _app_path(
    cli_value: str | None, cli_source: str, setting: object, setting_name: str, default: str
) -> tuple[str, str]:
    if cli_value:
        return normalize_app_path(cli_value, cli_source), cli_source
    if isinstance(setting, str) and setting:
        return normalize_app_path(setting, f"settings.{setting_name}"), f"settings.{setting_name}"
    return default, "default"


def _optional_path(value: object) -> Path | None:
    return Path(str(value)) if value else None


def channel_layer_info(settings: Any, override: str | None) -> ChannelLayer:
    if override in ("memory", "channels-memory"):
        return ChannelLayer(INMEMORY_LAYER, "--channel-layer")
    if override:
        return ChannelLayer(REDIS_LAYER, "--channel-layer")
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default") if isinstance(layers, dict) else None
    backend = default.get("BACKEND") if isinstance(default, dict) else None
    return ChannelLayer(str(backend) if backend else None, "settings")


def discover(
    root: Path,
    settings_module: str,
    settings_source: str,
    settings: Any,
    *,
    asgi: str | None,
    asgi_source: str,
    wsgi: str | None,
    wsgi_source: str,
    channel_layer_override: str | None,
    check_wsgi: bool = True,
    location: Location | None = None,
) -> Project:
    """Reads what tandem needs from loaded settings and checks the app paths exist."""
    package = settings_module.split(".", 1)[0]
    asgi_app, asgi_from = _app_path(
        asgi,
        asgi_source,
        getattr(settings, "ASGI_APPLICATION", None),
        "ASGI_APPLICATION",
        f"{package}.asgi:application",
    )
    wsgi_app, wsgi_from = _app_path(
        wsgi,
        wsgi_source,
        getattr(settings, "WSGI_APPLICATION", None),
        "WSGI_APPLICATION",
        f"{package}.wsgi:application",
    )
    check_app_path(asgi_app, "ASGI", asgi_from, root)
    if check_wsgi:
        check_app_path(wsgi_app, "WSGI", wsgi_from, root)
    upload = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None)
    return Project(
        root=root,
        settings_module=settings_module,
        settings_source=settings_source,
        asgi_app=asgi_app,
        asgi_source=asgi_from,
        wsgi_app=wsgi_app,
        wsgi_source=wsgi_from,
        static_url=getattr(settings, "STATIC_URL", None) or None,
        static_root=_optional_path(getattr(settings, "STATIC_ROOT", None)),
        media_url=getattr(settings, "MEDIA_URL", None) or None,
        media_root=_optional_path(getattr(settings, "MEDIA_ROOT", None)),
        channel_layer=channel_layer_info(settings, channel_layer_override),
        allowed_hosts=tuple(str(h) for h in getattr(settings, "ALLOWED_HOSTS", ()) or ()),
        debug=bool(getattr(settings, "DEBUG", False)),
        installed_apps=tuple(str(a) for a in getattr(settings, "INSTALLED_APPS", ()) or ()),
        data_upload_max_memory_size=upload if isinstance(upload, int) else None,
        root_source=location.root_source if location else "the current directory",
        sys_path=location.sys_path if location else (),
        sys_path_note=location.sys_path_note if location else "",
    )
