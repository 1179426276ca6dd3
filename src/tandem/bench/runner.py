"""Runs a benchmark: each variant started as a real ``tandem serve``, measured, stopped, in turn.

Nothing outlives the run: every server, the private Redis and the fan-out user are removed in ``finally``
blocks, and SIGTERM is turned into the same unwinding as Ctrl-C while the run is going.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from tandem import __version__
from tandem.bench import accounts, facts, paths
from tandem.bench.figures import (
    FAILED,
    SKIPPED,
    VariantResult,
)
from tandem.bench.handbuilt import HandbuiltRun
from tandem.bench.http_load import PYTHON, WRK, wrk_path
from tandem.bench.measure import Load, check_answer
from tandem.bench.options import BenchOptions
from tandem.bench.recommend import ProjectFacts, Recommendation, recommend
from tandem.bench.server import PrivateRedis, ServeRun, StartFailed, redis_binary
from tandem.bench.skips import HANDBUILT_KEY, server_skips, skip_reasons, variant_skip
from tandem.bench.steps import Measurer, Ui
from tandem.bench.tlsclient import self_signed_cert
from tandem.bench.variants import CONNS, DIRECT, ECHO, FANOUT, HTTP, Variant, select_variants, variant_table
from tandem.errors import DependencyError, TandemError
from tandem.launcher import discover_project_routes, load
from tandem.options import option
from tandem.project import ChannelLayer, Project
from tandem.routes import WEBSOCKET, RouteTable

STOP_TIMEOUT = 30.0
# Passed to each tandem serve: a benchmark server has nothing in flight worth waiting for.
GRACEFUL_TIMEOUT = 5


@dataclass
class BenchReport:
    started: str
    command: list[str]
    options: dict[str, Any]
    machine: dict[str, Any]
    versions: dict[str, str | None]
    project: dict[str, Any]
    http_tool: str
    skipped: dict[str, str]  # figure -> why it was not measured anywhere
    variants: list[VariantResult] = field(default_factory=list)
    recommendation: Recommendation | None = None
    elapsed_s: float = 0.0
    tandem_version: str = __version__


class BenchInterrupted(KeyboardInterrupt):
    """SIGTERM during a run: unwinds like Ctrl-C so every finally block stops what it started."""


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise BenchInterrupted()


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# The options that put a proxy or TLS in front of unified mode, by their environment names.
FRONT_OPTIONS_ENV = frozenset(
    option(name).env
    for name in ("proxy", "tls", "tls_cert", "tls_key", "trusted_proxies", "redirect_port", "hsts")
)


class Runner:
    def __init__(self, options: BenchOptions, environ: Mapping[str, str], ui: Ui) -> None:
        self.options = options
        self.environ = dict(environ)
        self.ui = ui
        self.redis: PrivateRedis | None = None
        self.login: accounts.BenchLogin | None = None
        self.skip: dict[str, str] = {}
        # Tried on the first server that starts when --http-path was not given; None: cannot be read.
        self.http_candidates: list[str] | None = None
        self.workdir = Path(tempfile.gettempdir())  # the run's own directory once it starts (run)
        # For handbuilt-split, which starts the servers itself: set by run().
        self.project: Project | None = None
        self.table = RouteTable((), ())
        self.nginx: str | None = None
        self.cores = 1

    # --- preparation ------------------------------------------------------------------------------------

    def _start_redis(self, directory: Path) -> None:
        binary = redis_binary()
        assert binary is not None
        self.redis = PrivateRedis(binary, directory)
        try:
            self.redis.wait_ready()
        except StartFailed as exc:
            self.skip["redis"] = f"the private redis-server did not start: {exc}"

    def _prepare_login(self) -> None:
        try:
            accounts.migrate_if_needed(self.ui.say)
            self.login = accounts.create_login()
        except accounts.LoginUnavailable as exc:
            self.skip[FANOUT] = str(exc)

    # --- one variant ------------------------------------------------------------------------------------

    def steps(self, variant: Variant) -> int:
        count = 1
        if HTTP in variant.measure and HTTP not in self.skip:
            count += 2 if DIRECT in variant.measure else 1
        if ECHO in variant.measure and ECHO not in self.skip:
            count += 2 if DIRECT in variant.measure else 1
        if FANOUT in variant.measure and FANOUT not in self.skip:
            count += len(self.options.fanout)
        if CONNS in variant.measure and CONNS not in self.skip:
            count += 1
        return count

    def _serve_argv(self, variant: Variant, project_root: Path) -> list[str]:
        argv = [sys.executable, "-m", "tandem", "serve", "--port", "0", "--mode", variant.mode,
                *variant.serve_args, "--project", str(project_root),
                "--graceful-timeout", str(GRACEFUL_TIMEOUT)]  # fmt: skip
        if self.options.settings:
            argv += ["--settings", self.options.settings]
        if variant.redis and self.redis is not None:
            argv += ["--channel-layer", self.redis.url]
        if variant.tls:
            options = self.options
            if options.tls is not None:
                argv += ["--tls", options.tls]
            elif options.tls_cert is not None and options.tls_key is not None:
                argv += ["--tls-cert", options.tls_cert, "--tls-key", options.tls_key]
        return argv

    def _trusted(self, variant: Variant, run: ServeRun | HandbuiltRun) -> str | None:
        """The certificate a TLS variant's clients trust: the one its serve made (--tls self-signed);
        None otherwise (plain HTTP, or the user's certificate, which is not checked on loopback)."""
        if not variant.tls or self.options.tls is None or not isinstance(run, ServeRun):
            return None
        assert run.instance is not None  # known once ready: the status came through its control socket
        return self_signed_cert(run.instance.runtime_dir)

    def run_variant(self, variant: Variant, result: VariantResult, project_root: Path, load: Load) -> None:
        ui, options = self.ui, self.options
        ui.step(f"{variant.name}: starting")
        # The options that put a proxy or TLS in front of unified mode come from the variant alone: a
        # TANDEM_PROXY or TANDEM_TLS left in the shell would make unified-1 measure nginx + Daphne under
        # the name of Daphne alone.
        env = {k: v for k, v in self.environ.items() if k not in FRONT_OPTIONS_ENV}
        # Off, except in the variants that measure what the access log costs (paired with one without it):
        # then to a file, as a production server would, not through this process's pipe.
        env["TANDEM_ACCESS_LOG"] = "1" if variant.access_log else "0"
        if variant.access_log:
            env["TANDEM_ACCESS_LOG_FILE"] = str(self.workdir / f"access-{variant.name}.log")
        run: ServeRun | HandbuiltRun
        if variant.handbuilt:
            assert self.project is not None and self.nginx is not None
            run = HandbuiltRun(self.project, self.table, nginx=self.nginx, environ=env, cores=self.cores)
        else:
            run = ServeRun(self._serve_argv(variant, project_root), cwd=project_root, env=env)
        try:
            try:
                result.ready_s = run.wait_ready(options.ready_timeout)
            except StartFailed as exc:
                result.status, result.reason = FAILED, str(exc)
                ui.say(f"{variant.name}: failed to start: {exc}")
                return
            ui.advance()
            ui.say(f"{variant.name}: ready in {result.ready_s:.2f} s at {run.url}")
            assert run.url is not None
            cafile = self._trusted(variant, run)
            if options.http_path is None and HTTP not in self.skip:
                self._choose_http_path(run.url, cafile)
            Measurer(self.options, self.skip, self.login, self.ui).measure(
                variant, result, run, run.url, dataclasses.replace(load, cafile=cafile)
            )
            failed = result.failed_measurements()
            if failed:
                # Its other figures stay in the JSON, but no verdict may rest on a variant that failed.
                more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
                result.status, result.reason = FAILED, f"measurement failed: {failed[0]}{more}"
        finally:
            ui.step(f"{variant.name}: stopping")
            result.notes.extend(run.stop(STOP_TIMEOUT))

    def _choose_http_path(self, url: str, cafile: str | None = None) -> None:
        """The first of the project's GET routes that answers 2xx, used for every variant alike."""
        if self.http_candidates is None:
            self.skip[HTTP] = (
                "the project's URLconf could not be read: pass --http-path with a page that answers 200"
            )
            return
        check = functools.partial(check_answer, cafile=cafile)
        chosen, tried = paths.pick_http_path(url, self.http_candidates, check)
        if chosen is None:
            self.skip[HTTP] = (
                f"no GET route of the project answered 2xx ({'; '.join(tried) or 'none to try'}): "
                "pass --http-path with a page that answers 200"
            )
            self.ui.say(f"HTTP not measured: {self.skip[HTTP]}")
            return
        self.options = dataclasses.replace(self.options, http_path=chosen)
        self.ui.say(f"HTTP path: {chosen} (the first of the project's GET routes that answered 2xx)")

    # --- the whole run ----------------------------------------------------------------------------------

    def run(self, argv: list[str]) -> BenchReport:
        options = self.options
        started = time.monotonic()
        loaded = load({}, self.environ, project_dir=options.project_dir, settings_module=options.settings)
        project = loaded.project
        table = discover_project_routes(project, loaded.settings)
        machine = facts.machine_facts()
        cores = int(machine["cores"])
        variants = select_variants(
            variant_table(cores), options.modes, options.variants, servers=options.servers, tls=options.tls_on
        )
        nginx = shutil.which(loaded.config.nginx)
        self.project, self.table, self.cores = project, table, cores
        handbuilt_skip: str | None = None
        if any(v.handbuilt for v in variants):
            from tandem.programs import require_nginx

            try:
                self.nginx = require_nginx(loaded.config, self.environ)
            except DependencyError as exc:
                handbuilt_skip = str(exc)
        wrk = wrk_path() if options.http_tool in ("auto", "wrk") else None
        if options.http_tool == "wrk" and wrk is None:
            raise DependencyError(
                "--http-tool wrk: wrk is not installed", hint="apt-get install wrk, or --http-tool auto"
            )
        urlconf = getattr(loaded.settings, "ROOT_URLCONF", None)
        if options.ws_path is None:
            options = self.options = dataclasses.replace(options, ws_path=paths.echo_route(table))
        if options.http_path is None:
            self.http_candidates = paths.http_candidates(urlconf)
        self.skip = skip_reasons(
            table, options, nginx_found=nginx is not None, redis_found=redis_binary() is not None
        )
        self.skip.update(server_skips(variants, lambda module: importlib.util.find_spec(module) is not None))
        if handbuilt_skip is not None:
            self.skip[HANDBUILT_KEY] = handbuilt_skip
        if any(v.proxy == "caddy" for v in variants):
            from tandem.programs import require_caddy

            try:
                require_caddy(loaded.config, self.environ)
            except DependencyError as exc:
                self.skip["caddy"] = str(exc)
        http_routes = facts.count_http_urls(urlconf)
        report = BenchReport(
            started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            command=argv,
            options={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
            machine=machine,
            versions=facts.versions(nginx=nginx, wrk=wrk, redis=redis_binary()),
            project={
                "root": str(project.root),
                "settings": project.settings_module,
                "channel_layer": project.channel_layer.name,
                "websocket_routes": [f"/{r.pattern}" for r in table.for_protocol(WEBSOCKET)],
                "http_url_patterns": http_routes,
            },
            http_tool=WRK if wrk else PYTHON,
            skipped={},
        )
        load_spec = Load(
            options.duration, options.warmup, options.connections, options.clients, options.fanout_messages,
            options.conns_timeout, wrk, options.repeat,
        )  # fmt: skip
        workdir = Path(
            tempfile.mkdtemp(prefix="tandem-bench-", dir="/tmp" if Path("/tmp").is_dir() else None)
        )
        try:
            with _sigterm_unwinds():
                self._run_variants(variants, report, project.root, load_spec, workdir, project.channel_layer)
        finally:
            self._cleanup(workdir)
        report.skipped = {k: v for k, v in self.skip.items()}
        report.options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.options).items()}
        report.machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        consumers = {r.target.rpartition(".")[0] for r in table.for_protocol(WEBSOCKET)}
        uses_groups, senders = facts.group_usage(project.root, consumers)
        project_facts = ProjectFacts(
            websocket_routes=len(table.for_protocol(WEBSOCKET)),
            http_routes=http_routes,
            layer=project.channel_layer.name,
            cross_process_layer=project.channel_layer.cross_process,
            uses_groups=uses_groups,
            http_group_senders=senders,
        )
        report.project["http_group_senders"] = list(senders)
        report.recommendation = recommend(report.variants, project_facts)
        report.elapsed_s = time.monotonic() - started
        if not any(v.status == "ok" for v in report.variants):
            raise NothingMeasured(report)
        return report

    def _run_variants(
        self,
        variants: tuple[Variant, ...],
        report: BenchReport,
        root: Path,
        load_spec: Load,
        workdir: Path,
        layer: ChannelLayer,
    ) -> None:
        self.workdir = workdir
        if any(v.redis for v in variants) and "redis" not in self.skip:
            self._start_redis(workdir)
        if any(FANOUT in v.measure for v in variants) and FANOUT not in self.skip:
            self._prepare_login()
        self.ui.begin(sum(self.steps(v) for v in variants))
        for variant in variants:
            result = VariantResult(
                name=variant.name,
                mode=variant.mode,
                description=variant.description,
                layer="RedisChannelLayer (private)" if variant.redis else layer.name,
                cross_process_layer=True if variant.redis else layer.cross_process,
                procs=variant.procs,
                http_server=variant.http_server if variant.mode == "split" else None,
                ws_server=variant.ws_server,
                handbuilt=variant.handbuilt,
                tls=variant.tls,
            )
            report.variants.append(result)
            reason = variant_skip(variant, self.skip)
            if reason is not None:
                result.status, result.reason = SKIPPED, reason
                self.ui.say(f"{variant.name}: skipped: {reason}")
                for _ in range(self.steps(variant)):
                    self.ui.advance()
                continue
            self.run_variant(variant, result, root, load_spec)

    def _cleanup(self, workdir: Path) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.login is not None:
            try:
                accounts.remove_login(self.login)
            except Exception as exc:  # the figures are worth more than a leftover test user
                self.ui.say(f"could not remove the fan-out user {self.login.username}: {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


class NothingMeasured(TandemError):
    """Every variant failed or was skipped."""

    exit_code = 7  # 6 is `tandem status`: no running instance

    def __init__(self, report: BenchReport) -> None:
        reasons = "; ".join(f"{v.name}: {v.reason}" for v in report.variants)
        super().__init__(
            f"no topology could be measured ({reasons})", hint="fix the first reason and run again"
        )
        self.report = report


def run_bench(options: BenchOptions, environ: Mapping[str, str], ui: Ui, argv: list[str]) -> BenchReport:
    return Runner(options, environ, ui).run(argv)
