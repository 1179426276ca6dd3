"""Process specs shared by the topologies: how Daphne and Gunicorn are started."""

from __future__ import annotations

from tandem.accesslog import AccessLogTarget
from tandem.layerchoice import KEPT_MEMORY, MANAGED, URL
from tandem.layers.substitute import TANDEM_MEMORY_SPEC
from tandem.plan import Address, Context, Probe, ProcessSpec
from tandem.pythonpath import environ_value
from tandem.redishosts import read_timeout_for
from tandem.runtime.bootfailure import MARKER_DIR_ENV
from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH, RuntimeSpec
from tandem.topologies.services import redis_url

GENERATION = "{generation}"
DAPHNE_WEBSOCKET_TIMEOUT = 86400  # Daphne's default --websocket_timeout, which Config's default repeats


def child_env(ctx: Context, spec: RuntimeSpec) -> dict[str, str]:
    env = dict(ctx.environ)
    env.update(
        {
            # The sys.path tandem imported the project with (tandem.pythonpath), the caller's own after it.
            "PYTHONPATH": environ_value(ctx.project.pythonpath, env.get("PYTHONPATH")),
            "DJANGO_SETTINGS_MODULE": ctx.project.settings_module,
            "PYTHONUNBUFFERED": "1",
            **spec.to_env(),
        }
    )
    if ctx.managed:  # Gunicorn workers that fail alike report once (tandem.runtime.bootfailure)
        env[MARKER_DIR_ENV] = str(ctx.runtime_dir)
    return env


def channel_layer_url(ctx: Context) -> str | None:
    """What replaces CHANNEL_LAYERS in the children: the user's --channel-layer URL, the managed
    redis-server's socket, "memory" (the in-memory layer kept) or "tandem-memory" (the in-memory layer as
    tandem.layers.inmemory's class, one process); None keeps the project's own layer."""
    layer = ctx.layer
    if layer is None:
        return ctx.config.channel_layer
    if layer.kind == MANAGED:
        return redis_url(ctx.runtime_dir)
    if layer.tandem_memory:
        return TANDEM_MEMORY_SPEC
    if layer.kind == KEPT_MEMORY:
        return "memory"
    return layer.url if layer.kind == URL else None


def runtime_spec(ctx: Context, app: str, *, serve_static: bool, trust_proxy: bool) -> RuntimeSpec:
    project = ctx.project
    return RuntimeSpec(
        app=app,
        probe_token=ctx.probe_token,
        channel_layer=channel_layer_url(ctx),
        redis_read_timeout=read_timeout_for(ctx.config.keep_redis_timeouts, ctx.config.channel_layer),
        serve_static=serve_static,
        static_url=project.static_url,
        static_root=str(project.static_root) if project.static_root else None,
        override_static_root=project.static_root_embedded,
        media_url=project.media_url,
        media_root=str(project.media_root) if project.media_root else None,
        trust_proxy=trust_proxy,
        proxy_secret=ctx.proxy_secret if trust_proxy else "",
        diagnostic_token=ctx.config.diagnostic_token,
        gc_threshold=ctx.config.gc_threshold,
    )


def probe(ctx: Context, address: Address, *, websocket: bool = False) -> Probe:
    return Probe(
        address=address,
        path=PROBE_PATH,
        host_header=ctx.project.probe_host,
        headers={PROBE_HEADER: ctx.probe_token},
        websocket=websocket,
    )


def app_access_log(ctx: Context, *, behind_proxy: bool) -> AccessLogTarget | None:
    """Where an app server writes its access log: behind nginx, which already logs every request, only
    with --app-access-log (one line per request by default)."""
    # Caddy writes no common/combined lines of its own: behind it the app servers log instead.
    quiet = behind_proxy and not ctx.config.app_access_log and ctx.config.proxy != "caddy"
    if ctx.access_log is None or quiet:
        return None
    return ctx.access_log


# --- the app servers' processes: built by their strategy modules (tandem.servers), kept here by name ----


def daphne_processes(
    ctx: Context, count: int, shared: str, *, serve_static: bool, behind_proxy: bool
) -> tuple[ProcessSpec, ...]:
    """tandem.servers.daphne's processes (the default --ws-server / --server)."""
    from tandem.servers import daphne

    return daphne.daphne_processes(ctx, count, shared, serve_static=serve_static, behind_proxy=behind_proxy)


def gunicorn_process(ctx: Context, workers: int, socket_name: str) -> ProcessSpec:
    """tandem.servers.gunicorn's process (the default --http-server)."""
    from tandem.servers import gunicorn

    return gunicorn.gunicorn_process(ctx, workers, socket_name)
