"""What ``serve`` runs: a Plan with its bound sockets, and what a reload tries before it touches a process."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tandem import private
from tandem.accesslog import close_target
from tandem.config import Config
from tandem.errors import ReloadRefused
from tandem.plan import Managed, Plan, build_plan
from tandem.project import Project
from tandem.proxies.validate import proxy_test
from tandem.rediscover import discover_in_subprocess
from tandem.routes import RouteTable
from tandem.servers import ASGI_ROLES
from tandem.sockets import close_all


def access_log_fds(target: Managed) -> tuple[int, ...]:
    return target.access_log.inherited_fds if target.access_log is not None else ()


@dataclass
class Serving:
    """A plan with its bound sockets: what ``serve`` runs."""

    plan: Plan
    sockets: list[socket.socket]
    runtime_dir: Path
    remove_runtime_dir: bool
    config: Config  # as the Plan was built with it (the nginx found, wherever it is)
    project: Project
    target: Managed  # what a reload rebuilds the Plan for: the same sockets, secrets and layer

    def prepare_reload(self) -> Callable[[], bool] | None:
        """Everything a reload can fail at, before a running process is touched (run off the supervisor's
        loop): the new code imports in a fresh interpreter as the servers import it, the routing is re-read
        there, the new proxy config passes ``nginx -t``. Returns the step that installs that config (True
        when it changed), or None without a proxy. Raises on any failure; nothing is changed then."""
        from tandem.checks.freshimport import fresh_imports

        project = self.project
        if self.config.role == "edge":
            return self._prepare_edge_reload()
        app = next(p for p in self.plan.processes if p.role in ("daphne", "gunicorn", "gunicorn-asgi"))
        wsgi_served = any(p.role == "gunicorn" for p in self.plan.processes)
        found = fresh_imports(
            {"asgi": project.asgi_app, "wsgi": project.wsgi_app if wsgi_served else None},
            root=project.root,
            settings_module=project.settings_module,
            environ=app.env,
            pythonpath=list(project.pythonpath),
        )
        for kind, result in found.items():
            if result.error:
                raise ReloadRefused(
                    f"the new code does not import: the {kind.upper()} application {result.error}"
                )
        if self.plan.proxy is None or self.plan.proxy.asgi_only:
            # Unified mode behind the proxy sends everything to the app server: its config reads no routes,
            # so a reload has nothing to re-read or re-render (and no 60 s rediscovery to fail at).
            return None
        daphne = next(p for p in self.plan.processes if p.role in ASGI_ROLES)
        routes = discover_in_subprocess(project.asgi_app, self.target.python, daphne.env, str(project.root))
        return self._install_proxy_config(routes)

    def _prepare_edge_reload(self) -> Callable[[], bool] | None:
        """An edge runs no app server to import the new code in: its routes are re-read in a fresh
        interpreter with the environment nginx runs with plus the project's path and settings."""
        from tandem.pythonpath import environ_value

        project = self.project
        env = dict(self.target.environ)
        env.update(
            PYTHONPATH=environ_value(project.pythonpath, env.get("PYTHONPATH")),
            DJANGO_SETTINGS_MODULE=project.settings_module,
        )
        routes = discover_in_subprocess(project.asgi_app, self.target.python, env, str(project.root))
        return self._install_proxy_config(routes)

    def _install_proxy_config(self, routes: RouteTable) -> Callable[[], bool]:
        plan = build_plan(self.config, self.project, routes, self.target)
        changed = [
            f for f in plan.files if (self.runtime_dir / f.path).read_text(encoding="utf-8") != f.content
        ]
        candidates = []
        try:
            for file in changed:
                target = self.runtime_dir / file.path
                candidate = target.with_name(target.name + ".new")
                candidates.append((candidate, target))
                private.write_file(candidate, file.content, file.mode)
                proxy_test(self.config, candidate, access_log_fds(self.target))
        except BaseException:
            for candidate, _ in candidates:
                candidate.unlink(missing_ok=True)
            raise

        def install() -> bool:
            for candidate, target in candidates:
                os.replace(candidate, target)
            self.plan = plan
            return bool(changed)

        return install

    def close(self) -> None:
        close_all(self.sockets)
        close_target(self.target.access_log)
        if self.remove_runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
