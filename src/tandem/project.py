"""Finds the Django project: root, settings module, ASGI/WSGI app paths, static/media, channel layer.

Every failure is a ProjectError naming what was looked for, where, and how to fix it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import ProjectError

INMEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
REDIS_LAYER = "channels_redis.core.RedisChannelLayer"

_MANAGE_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


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
    tandem_settings: Mapping[str, object]

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


def find_root(project_dir: Path | None, cwd: Path) -> Path:
    """The directory holding manage.py: ``--project`` if given, else the current directory."""
    root = (project_dir or cwd).resolve()
    if not root.is_dir():
        raise ProjectError(f"project directory {root} does not exist", hint="check --project")
    if not (root / "manage.py").is_file():
        where = "--project" if project_dir else "the current directory"
        raise ProjectError(
            f"not a Django project: no manage.py in {root}",
            hint=f"run tandem where manage.py lives, or pass --project DIR (looked in {where})",
        )
    return root


def settings_module_from_manage(manage_py: Path) -> str | None:
    """Reads ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.settings")`` from manage.py."""
    try:
        match = _MANAGE_SETTINGS.search(manage_py.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


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
        f"no settings module: --settings not given, DJANGO_SETTINGS_MODULE unset, none found in {root / 'manage.py'}",
        hint="pass --settings mysite.settings",
    )


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def load_settings(root: Path, module: str, source: str) -> Any:
    """Imports the settings module with the project root on sys.path and returns django.conf.settings."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if module_missing(exc, module):
            raise ProjectError(
                f"settings module {module!r} (from {source}) not found under {root}",
                hint="fix --settings or DJANGO_SETTINGS_MODULE",
            ) from None
        raise ProjectError(
            f"settings module {module!r} failed to import: {_exception_line(exc)}",
            hint="fix the import error in your settings",
        ) from None
    except Exception as exc:
        raise ProjectError(
            f"settings module {module!r} failed to import: {_exception_line(exc)}",
            hint="fix the error in your settings",
        ) from None
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces Django to configure itself, surfacing errors here
    except Exception as exc:
        raise ProjectError(f"settings {module!r} are invalid: {_exception_line(exc)}") from None
    return settings


def module_missing(exc: ImportError, module: str) -> bool:
    """True when the ImportError is about ``module`` (or a parent) itself, not something it imports."""
    name = getattr(exc, "name", None)
    return name is not None and (module == name or module.startswith(name + "."))


def normalize_app_path(value: str) -> str:
    """``pkg.asgi.application`` (Django setting style) or ``pkg.asgi:application`` -> ``pkg.asgi:application``."""
    if ":" in value:
        return value
    module, _, attr = value.rpartition(".")
    if not module:
        raise ProjectError(
            f"{value!r} is not an application path", hint="use module:attribute, e.g. mysite.asgi:application"
        )
    return f"{module}:{attr}"


def _top_level_names(source: str) -> set[str] | None:
    """Names a module defines at top level, or None when it may define names dynamically (star imports)."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.NamedExpr):
            names.add(node.target.id)
    if "__getattr__" in names:
        return None
    return names


def check_app_path(app_path: str, what: str, source: str, root: Path) -> None:
    """Checks that ``module:attr`` exists without running the module (the child process imports it)."""
    module, _, attr = app_path.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        spec = None
        detail = f" ({_exception_line(exc)})"
    else:
        detail = ""
    if spec is None:
        raise ProjectError(
            f"{what} module {module!r} (from {source}) not found under {root}{detail}",
            hint=f"fix {source} to point at your project's {what} module",
        )
    origin = spec.origin
    if not attr or origin is None or not origin.endswith(".py"):
        return
    try:
        names = _top_level_names(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return  # the child will report the real error with its output
    if names is not None and attr.split(".")[0] not in names:
        raise ProjectError(
            f"{what} application {app_path!r} (from {source}): {module} has no attribute {attr!r}",
            hint=f"check the name after ':' in {source}",
        )


def _app_path(
    cli_value: str | None, cli_source: str, setting: object, setting_name: str, default: str
) -> tuple[str, str]:
    if cli_value:
        return normalize_app_path(cli_value), cli_source
    if isinstance(setting, str) and setting:
        return normalize_app_path(setting), f"settings.{setting_name}"
    return default, "default"


def _optional_path(value: object) -> Path | None:
    return Path(str(value)) if value else None


def channel_layer_info(settings: Any, override: str | None) -> ChannelLayer:
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
    check_app_path(wsgi_app, "WSGI", wsgi_from, root)
    tandem_settings = getattr(settings, "TANDEM", None) or {}
    if not isinstance(tandem_settings, dict):
        raise ProjectError("settings.TANDEM must be a dict", hint="e.g. TANDEM = {'PROCS': 2}")
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
        tandem_settings=dict(tandem_settings),
    )
