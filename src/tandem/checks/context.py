"""What the checks look at: the project's settings, tandem's Config, and (lazily) its ASGI application.

Built once per run, either from ``manage.py check`` (environment and ``settings.TANDEM`` only) or from
``tandem check`` (with the command line's values on top). Expensive facts (importing the ASGI application,
walking its routes, resolving consumer classes) are computed on first use and remembered.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tandem.checks.freshimport import FreshImport, fresh_imports, project_path
from tandem.checks.groups import group_senders, uses_groups
from tandem.config import Config, env_name, resolve_config
from tandem.errors import ProjectError, TandemError
from tandem.layerchoice import (
    INMEMORY_LAYER,
    SETTINGS,
    LayerChoice,
    choose_layer,
    default_layer_config,
)
from tandem.plan import daphne_count
from tandem.project import ChannelLayer, channel_layer_info, normalize_app_path
from tandem.routes import RouteTable, discover_routes
from tandem.runtime.overrides import import_app
from tandem.tracebacks import exception_line, where_in


@dataclass(frozen=True)
class AppImport:
    path: str  # "module:attr"
    source: str  # where the path came from: "settings.ASGI_APPLICATION", "--asgi", "default"
    app: object | None
    error: str | None  # one line, when the import failed


def resolve_qualified(name: str) -> object | None:
    """The object a dotted ``module.Qual.Name`` refers to (as routes.Route.target spells it), or None."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                target = getattr(target, part)
        except AttributeError:
            return None
        found: object = target
        return found
    return None


READ_TIMEOUT = "ws_read_timeout"


def _without(
    option: str, cli: Mapping[str, object], environ: Mapping[str, str], settings_tandem: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, str], dict[str, object]]:
    """The three option sources with one option removed from each."""
    return (
        {k: v for k, v in cli.items() if k != option},
        {k: v for k, v in environ.items() if k != env_name(option)},
        {k: v for k, v in settings_tandem.items() if str(k).lower() != option},
    )


class CheckContext:
    """The inputs of one check run.

    ``serving``: the run is ``serve``'s, about the processes it is about to start, so findings tandem fixes
    itself in those processes (W012: it raises Redis read timeouts) are not reported; ``tandem check`` and
    ``manage.py check`` report them, as the production deployment may not run under tandem.
    """

    def __init__(
        self,
        settings: Any,
        environ: Mapping[str, str],
        cli: Mapping[str, object] | None = None,
        *,
        serving: bool = False,
    ):
        self.settings = settings
        self.environ = environ
        self.cli = dict(cli or {})
        self.serving = serving

    # --- tandem's own options --------------------------------------------------------------------

    @cached_property
    def _config(self) -> tuple[Config | None, str | None, str | None]:
        """(config, why the options are invalid, why the read timeout is invalid)."""
        tandem_settings = getattr(self.settings, "TANDEM", None) or {}
        try:  # settings.TANDEM is validated there, with everything else, once
            return resolve_config(self.cli, self.environ, tandem_settings), None, None
        except TandemError as exc:
            problem = str(exc)
        if not isinstance(tandem_settings, Mapping):
            return None, problem, None
        # The read timeout has a check of its own (E009): when it is the only invalid option, report it
        # there and run the other checks with the timeout tandem would derive.
        try:
            config = resolve_config(*_without(READ_TIMEOUT, self.cli, self.environ, tandem_settings))
        except TandemError:
            return None, problem, None
        return config, None, problem

    @property
    def config(self) -> Config | None:
        """None when the options are invalid (tandem.E001 says why); the dependent checks then skip."""
        return self._config[0]

    @property
    def config_error(self) -> str | None:
        return self._config[1]

    @property
    def read_timeout_error(self) -> str | None:
        """Why the configured WebSocket read timeout was refused (tandem.E009), or None."""
        return self._config[2]

    @property
    def mode(self) -> str:
        return self.config.mode if self.config else "unified"

    @property
    def behind_tandem_proxy(self) -> bool:
        """tandem's own proxy stands in front of the app servers: split mode, or unified mode with TLS,
        --proxy or --trusted-proxy (Config.unified_proxy)."""
        return self.mode == "split" or (self.config is not None and self.config.unified_proxy)

    @cached_property
    def settings_layer(self) -> ChannelLayer:
        """The project's own CHANNEL_LAYERS['default'] (before any choice of tandem's)."""
        return channel_layer_info(self.settings, None)

    @cached_property
    def spans_processes(self) -> bool:
        """Split mode, an app host (other hosts too), or more than one Daphne process (the Plan's count)."""
        if self.config is None:
            return False
        return self.mode == "split" or self.config.role == "app" or self.daphne_procs > 1

    @cached_property
    def layer_choice(self) -> LayerChoice:
        """The layer the started processes would use (layerchoice.choose_layer, as serve asks it)."""
        return choose_layer(
            self.config.channel_layer if self.config else None,
            self.settings_layer.backend,
            spans_processes=self.spans_processes,
            uses_groups=self.uses_groups,
            settings_config=default_layer_config(self.settings),
        )

    @property
    def channel_layer(self) -> ChannelLayer:
        choice = self.layer_choice
        return ChannelLayer(choice.backend, "settings" if choice.kind == SETTINGS else choice.why)

    @property
    def daphne_procs(self) -> int:
        """The number of Daphne processes the Plan would run (the Plan's own count, without refusing)."""
        if self.config is None:
            return 1
        return daphne_count(self.config, channel_layer_info(self.settings, self.config.channel_layer))

    # --- who uses groups ---------------------------------------------------------------------------

    @cached_property
    def group_consumers(self) -> list[str]:
        """The routed consumers that join or send to groups, as ``module.Class ('pattern')``."""
        return [
            f"{cls.__module__}.{cls.__qualname__} ('{pattern}')"
            for pattern, cls in self.consumers.items()
            if uses_groups(cls)
        ]

    @cached_property
    def group_senders(self) -> list[str]:
        """``path:line`` of group_send calls in the project's own code outside consumers (views, signals,
        tasks): in split mode they run in Gunicorn."""
        if self.root is None:
            return []
        names = frozenset(cls.__name__ for cls in self.consumers.values())
        return group_senders(self.root, names)

    @property
    def uses_groups(self) -> bool:
        return bool(self.group_consumers or self.group_senders)

    @property
    def in_memory(self) -> bool:
        return self.layer_choice.backend == INMEMORY_LAYER

    @cached_property
    def root(self) -> Path | None:
        """The directory the settings module is imported from (the project root, where manage.py is)."""
        module_name = str(getattr(self.settings, "SETTINGS_MODULE", "") or "")
        module = sys.modules.get(module_name)
        origin = getattr(module, "__file__", None)
        if not origin:
            return None
        return Path(origin).resolve().parents[module_name.count(".")]

    @property
    def package(self) -> str:
        module = str(getattr(self.settings, "SETTINGS_MODULE", "") or "")
        return module.split(".", 1)[0]

    # --- the applications --------------------------------------------------------------------------

    def app_path(self, kind: str) -> tuple[str | None, str]:
        """(``module:attr``, source) of the ``asgi`` or ``wsgi`` app tandem would run; path None if unknown."""
        setting_name = f"{kind.upper()}_APPLICATION"
        given = getattr(self.config, kind, None) if self.config else None
        try:
            if isinstance(given, str) and given and self.config is not None:
                source = self.config.sources.get(kind, "cli")
                return normalize_app_path(given), f"--{kind}" if source == "cli" else source
            setting = getattr(self.settings, setting_name, None)
            if isinstance(setting, str) and setting:
                return normalize_app_path(setting), f"settings.{setting_name}"
        except ProjectError:
            return None, f"settings.{setting_name}"
        if not self.package:
            return None, "default"
        return f"{self.package}.{kind}:application", "default"

    def _import_app(self, kind: str) -> AppImport:
        path, source = self.app_path(kind)
        if path is None:
            return AppImport("?", source, None, "not an application path (use module.attribute)")
        try:
            return AppImport(path, source, import_app(path), None)  # path is normalized: module:attr
        except Exception as exc:  # any error the user's module raises is the finding itself
            where = where_in(exc, self.root) if self.root else ""
            return AppImport(path, source, None, exception_line(exc) + where)

    @cached_property
    def asgi(self) -> AppImport:
        return self._import_app("asgi")

    @cached_property
    def wsgi(self) -> AppImport:
        return self._import_app("wsgi")

    @cached_property
    def fresh(self) -> dict[str, FreshImport]:
        """The verdict on importability: each application imported in a fresh interpreter, as the servers
        import it (no django.setup() before). The in-process import above is only for walking the routes."""
        module = str(getattr(self.settings, "SETTINGS_MODULE", "") or "")
        if self.root is None or not module:
            return {}
        return fresh_imports(
            {"asgi": self.app_path("asgi")[0], "wsgi": self.app_path("wsgi")[0]},
            root=self.root,
            settings_module=module,
            environ=self.environ,
            # The sys.path this process imported the settings with (tandem.pythonpath's order, or
            # manage.py's), as the servers get it.
            pythonpath=project_path(sys.path, self.root),
        )

    def import_error(self, kind: str) -> str | None:
        """Why the ``asgi``/``wsgi`` application does not import (fresh process), or None."""
        verdict = self.fresh.get(kind)
        if verdict is not None:
            return verdict.error
        return self.asgi.error if kind == "asgi" else self.wsgi.error

    def app_missing(self, kind: str) -> bool:
        """The application's module does not exist at all."""
        verdict = self.fresh.get(kind)
        return verdict is not None and verdict.missing

    @cached_property
    def routes(self) -> RouteTable | None:
        if self.asgi.app is None:
            return None
        return discover_routes(self.asgi.app)

    @cached_property
    def consumers(self) -> dict[str, type]:
        """The WebSocket consumer classes the routes lead to, by route pattern."""
        found: dict[str, type] = {}
        if self.routes is None:
            return found
        for route in self.routes.for_protocol("websocket"):
            target = resolve_qualified(route.target)
            if isinstance(target, type):
                found[route.pattern or "(every WebSocket path)"] = target
        return found
