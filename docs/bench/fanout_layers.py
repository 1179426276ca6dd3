"""Fan-out through one Daphne: Channels' InMemoryChannelLayer against tandem's, paired, bounded.

    .venv/bin/python docs/bench/fanout_layers.py --clients 1000 --messages 10 --repeats 3
    .venv/bin/python docs/bench/fanout_layers.py --clients 1000 --messages 10 --repeats 1 --profile
    .venv/bin/python docs/bench/fanout_layers.py --clients 1000 --messages 20 --repeats 5 \
        --variants tandem-nohop,redis-nohop,redis-pubsub-nohop

A minimal relay project is written to a temporary directory: one consumer joins the group ``relay`` and turns
every text frame it receives into a ``group_send`` whose handler sends the same text back. ``tandem serve
--port 0 --no-access-log`` runs it (unified: one Daphne) once per variant and repeat, variants alternating:

- ``channels``: ``--channel-layer channels-memory`` (Channels' class, exactly);
- ``tandem``: the default, the project's in-memory layer served by ``TandemInMemoryChannelLayer``;
- ``tandem-nohop`` (not run unless asked with ``--variants``): the same, and the consumer's ``dispatch`` skips
  Channels' per-message ``close_old_connections()`` thread hop for relay events (they touch no database), as
  the example's ChatConsumer does for its broadcasts;
- ``uvicorn-nohop`` and ``gunicorn-asgi-nohop`` (only when asked): ``tandem-nohop`` on ``--server uvicorn``
  and ``--server gunicorn-asgi``; ``tandem-gc700-nohop``, ``uvicorn-gc700-nohop`` and
  ``gunicorn-asgi-gc700-nohop``: the same three with ``--gc-threshold 700``, Python's own collector threshold
  (tandem's default is 7000, and it freezes what the import left alive either way);
- ``redis-nohop`` and ``redis-pubsub-nohop`` (only when asked): ``tandem-nohop``'s consumer and one Daphne on
  channels_redis's ``RedisChannelLayer`` and ``RedisPubSubChannelLayer``, named in the project's settings (the
  settings read CHANNEL_LAYERS from ``RELAY_CHANNEL_LAYERS``: ``--channel-layer URL`` would put
  ``RedisChannelLayer`` in place of either). Each run starts its own ``redis-server`` on a unix socket in the
  temporary directory (no port, no persistence) and stops it by pid afterwards, so no group outlives its run.

The load is ``tandem.bench.fanout.fanout_load`` (the protocol ``tandem bench`` uses): ``--clients`` WebSocket
clients on loopback in this process, one more posts ``--messages`` messages (after 2 warm-ups), each timed
from the post to its receipt by every client. Figures are ms, medians over the repeats of each run's p50/p99.

``cpu/post`` is the server process's CPU time from the first post until the last relay event is sent,
divided by the broadcasts (warm-ups included): the work one broadcast costs the server, which other load on
a shared machine delays but does not change, where the receipt times move with it.

``redis/post`` is the same for the redis-server process over the same span (its ``INFO cpu``, read by the
server at both ends). ``µs/member`` is ``cpu/post`` divided by the group's members (the clients and the
poster).

``--profile`` runs the server under cProfile over the same span and prints the top functions by own time
for each variant (cProfile slows small calls: read shares, not ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tandem.bench.fanout import WARMUP_MESSAGES, fanout_load

SETTINGS = """\
import json
import os

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = []
MIDDLEWARE = []
ROOT_URLCONF = "relay.urls"
ASGI_APPLICATION = "relay.asgi.application"
WSGI_APPLICATION = "relay.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
CHANNEL_LAYERS = json.loads(
    os.environ.get("RELAY_CHANNEL_LAYERS")
    or '{"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}'
)
"""

URLS = """\
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("relay"))]
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relay.settings")
application = get_wsgi_application()
"""

CONSUMERS = """\
import atexit
import cProfile
import os
import time

from channels.generic.websocket import AsyncWebsocketConsumer

PROFILE = os.environ.get("RELAY_PROFILE")  # where to write the stats; profiling from the first post
PROFILE_EVENTS = int(os.environ.get("RELAY_PROFILE_EVENTS", "0"))  # relay events sent, then stop
CPU_FILE = os.environ.get("RELAY_CPU_FILE")  # where to write the process's CPU seconds over the same span
SKIP_CLOSE = bool(os.environ.get("RELAY_SKIP_CLOSE"))  # variant tandem-nohop
REDIS_SOCKET = os.environ.get("RELAY_REDIS_SOCKET")  # the redis variants: its CPU over the same span
_profiler = cProfile.Profile() if PROFILE else None
_state = {"on": False, "sent": 0, "cpu": 0.0, "redis": 0.0}


def _redis_cpu():
    if not REDIS_SOCKET:
        return 0.0
    import redis

    # redis-server's own getrusage() (µs); /proc's figures for another process count 10 ms ticks.
    info = redis.Redis(unix_socket_path=REDIS_SOCKET).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _dump():
    if _profiler is not None and _state["on"]:
        _profiler.disable()
        _profiler.dump_stats(PROFILE)
    if CPU_FILE and _state["on"]:
        with open(f"{CPU_FILE}.{os.getpid()}", "w") as out:  # one file per server process
            cpu = time.process_time() - _state["cpu"]
            out.write(f"{cpu} {_redis_cpu() - _state['redis']} {_state.get('class', '?')} {_state['sent']}")
    _state["on"] = False


atexit.register(_dump)


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        _state["class"] = type(self.channel_layer).__module__ + "." + type(self.channel_layer).__name__
        await self.channel_layer.group_add("relay", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("relay", self.channel_name)

    async def dispatch(self, message):
        if SKIP_CLOSE and message["type"] == "relay":
            # The relay handler touches no database: skip Channels' close_old_connections() thread hop.
            await self.relay(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None):
        if (_profiler is not None or CPU_FILE) and not _state["on"] and _state["sent"] == 0:
            _state["on"] = True
            _state["redis"] = _redis_cpu()  # first: the query's own cost stays out of the server's span
            _state["cpu"] = time.process_time()
            if _profiler is not None:
                _profiler.enable()
        await self.channel_layer.group_send("relay", {"type": "relay", "text": text_data})

    async def relay(self, event):
        await self.send(text_data=event["text"])
        _state["sent"] += 1
        if _state["sent"] == PROFILE_EVENTS:
            _dump()
"""

ASGI = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relay.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from relay.consumers import RelayConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([path("ws/relay/", RelayConsumer.as_asgi())])}
)
"""

VARIANTS = {
    "channels": ["--channel-layer", "channels-memory"],
    "tandem": [],
    "tandem-nohop": [],
    "uvicorn-nohop": ["--server", "uvicorn"],
    "gunicorn-asgi-nohop": ["--server", "gunicorn-asgi"],
    # Python's own collector settings in the server (tandem.runtime.collector raises gen 0's threshold to 7000).
    "tandem-gc700-nohop": ["--gc-threshold", "700"],
    "uvicorn-gc700-nohop": ["--server", "uvicorn", "--gc-threshold", "700"],
    "gunicorn-asgi-gc700-nohop": ["--server", "gunicorn-asgi", "--gc-threshold", "700"],
    # --procs 1: with a cross-process layer tandem's default is one Daphne per core.
    "redis-nohop": ["--procs", "1"],
    "redis-pubsub-nohop": ["--procs", "1"],
}
# The project's layer for the redis variants (RELAY_CHANNEL_LAYERS), its host the run's redis-server.
REDIS_BACKENDS = {
    "redis-nohop": "channels_redis.core.RedisChannelLayer",
    "redis-pubsub-nohop": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
REDIS_READY_TIMEOUT = 10.0


def write_project(root: Path) -> Path:
    package = root / "relay"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    files = {"settings": SETTINGS, "urls": URLS, "wsgi": WSGI, "consumers": CONSUMERS, "asgi": ASGI}
    for name, text in files.items():
        (package / f"{name}.py").write_text(text)
    (root / "manage.py").write_text(
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'relay.settings')\n"
        "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n"
    )
    return root


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it too


def start(
    project: Path, args: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """``tandem serve`` with its output written to ``log`` (a file never fills up and blocks the server, as
    an unread pipe would); ready once the log has its ``Ready:`` line, within ``READY_TIMEOUT``."""
    argv = [sys.executable, "-m", "tandem", "serve", "--port", "0", "--no-access-log", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT
    lines: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        # Whole lines only: the last may still be being written.
        lines = log.read_text(errors="replace").splitlines(keepends=True)
        lines = [line.rstrip() for line in lines if line.endswith("\n")]
        ready = next((line for line in lines if line.startswith("Ready: ")), None)
        if ready is not None:
            return proc, ready.split()[1], lines
        time.sleep(0.05)  # polling interval of a bounded wait
    stop(proc)
    why = "exited" if proc.returncode is not None else f"not ready within {READY_TIMEOUT:.0f} s"
    raise RuntimeError(f"tandem serve {why}:\n" + log.read_text(errors="replace"))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then its whole session (it was started in one of its own) killed if it has not exited."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


def start_redis(sock: Path) -> subprocess.Popen[bytes]:
    """redis-server on a unix socket only, no persistence; ready once it answers PING."""
    import redis

    sock.unlink(missing_ok=True)
    argv = [
        "redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
        "--dir", str(sock.parent),
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + REDIS_READY_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if sock.exists():
            try:
                if redis.Redis(unix_socket_path=str(sock), socket_timeout=1.0).ping():
                    return proc
            except redis.RedisError:
                pass
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"redis-server did not answer on {sock}")


def run_once(
    project: Path, variant: str, args: argparse.Namespace, profile: Path | None
) -> dict[str, object]:
    env = dict(os.environ)
    if variant.endswith("-nohop"):
        env["RELAY_SKIP_CLOSE"] = "1"
    broadcasts = WARMUP_MESSAGES + args.messages
    cpu_file = project.parent / f"cpu-{variant}-{os.getpid()}"
    for old in project.parent.glob(cpu_file.name + ".*"):
        old.unlink()
    env["RELAY_CPU_FILE"] = str(cpu_file)
    env["RELAY_PROFILE_EVENTS"] = str((args.clients + 1) * broadcasts)  # every client and the poster
    if profile is not None:
        env["RELAY_PROFILE"] = str(profile)
    redis_proc = None
    if variant in REDIS_BACKENDS:
        sock = project.parent / "redis.sock"
        redis_proc = start_redis(sock)
        env["RELAY_REDIS_SOCKET"] = str(sock)
        layer = {"BACKEND": REDIS_BACKENDS[variant], "CONFIG": {"hosts": [f"unix://{sock}"]}}
        env["RELAY_CHANNEL_LAYERS"] = json.dumps({"default": layer})
    try:
        proc, url, lines = start(project, VARIANTS[variant], env, project.parent / f"serve-{variant}.log")
    except BaseException:
        if redis_proc is not None:
            stop(redis_proc)
        raise
    try:
        layer_line = next((line for line in lines if "channel layer:" in line), "?")
        ws = "ws://" + url.split("://", 1)[1].rstrip("/") + "/ws/relay/"
        result = asyncio.run(
            fanout_load(
                ws, url.rstrip("/"), "", clients=args.clients, messages=args.messages,
                time_bound=args.time_bound, message_timeout=10.0,
            )
        )  # fmt: skip
        result["layer"] = layer_line.split("channel layer:", 1)[1].split("(", 1)[0].strip()
        result["layer_line"] = layer_line.strip()
        result["load1"] = os.getloadavg()[0]  # the box's load as the run ends
    finally:
        stop(proc)
        if redis_proc is not None:
            stop(redis_proc)
    # The server's CPU time from the first post to the last relay event, per broadcast: on a shared box the
    # steadier figure of the two (another process's load delays the receipts, not this process's work).
    # Then the redis-server's CPU over the same span, and the layer class the server's consumers held: what
    # ran, whatever the startup line said.
    written = list(project.parent.glob(cpu_file.name + ".*"))
    if len(written) > 1:
        raise RuntimeError(f"{variant}: {len(written)} server processes wrote CPU figures; one was expected")
    fields = written[0].read_text().split() if written else []
    if fields and int(fields[3]) != (args.clients + 1) * broadcasts:
        # The span ended as the server stopped, not at the last relay event: the figure would be wrong.
        raise RuntimeError(f"{variant}: the server sent {fields[3]} relay events in its span, not all")
    server_cpu = float(fields[0]) if fields else None
    redis_cpu = float(fields[1]) if fields else None
    result["layer_class"] = fields[2] if fields else None
    result["server_cpu_ms"] = round(1000 * server_cpu / broadcasts, 1) if server_cpu is not None else None
    result["redis_cpu_ms"] = (
        round(1000 * redis_cpu / broadcasts, 2) if redis_cpu is not None and redis_proc is not None else None
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-bound", type=float, default=120.0, help="seconds for the joins of one run")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-dir", type=Path, help="keep the .prof files here (default: discarded)")
    parser.add_argument("--variants", default="channels,tandem")
    args = parser.parse_args()
    if not (1 <= args.clients <= 5000 and 1 <= args.messages <= 100 and 1 <= args.repeats <= 10):
        parser.error("bounded: clients 1-5000, messages 1-100, repeats 1-10")
    raise_fd_limit()
    variants = args.variants.split(",")
    results: dict[str, list[dict[str, object]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="fanout-layers-") as tmp:
        project = write_project(Path(tmp) / "proj")
        for repeat in range(args.repeats):
            order = variants if repeat % 2 == 0 else variants[::-1]  # paired, alternating
            for variant in order:
                keep = args.profile_dir or Path(tmp)
                profile = keep / f"{variant}-{repeat}.prof" if args.profile else None
                result = run_once(project, variant, args, profile)
                results[variant].append(result)
                print(json.dumps({"variant": variant, "repeat": repeat, **result}), flush=True)
                if profile is not None and profile.exists():
                    print(f"--- {variant}: top functions by own time (cProfile) ---")
                    stats = pstats.Stats(str(profile))
                    stats.sort_stats("tottime").print_stats(18)
    print(
        f"\n{args.clients} clients, {args.messages} broadcasts per run, median of {args.repeats} runs (ms):"
    )
    print(
        f"{'variant':19} {'layer':28} {'last p50':>9} {'last p99':>9} {'each p50':>9} {'cpu/post':>9} "
        f"{'µs/member':>9} {'redis/post':>10} {'missing':>8}"
    )
    for variant, runs in results.items():

        def med(key: str, runs: list[dict[str, object]] = runs) -> float:
            values = [float(r[key]) for r in runs if r.get(key) is not None]  # type: ignore[arg-type]
            return statistics.median(values) if values else float("nan")

        layer = str(runs[0].get("layer")) if runs else "?"
        missing = sum(int(r["missing"]) for r in runs)  # type: ignore[call-overload]
        per_member = 1000 * med("server_cpu_ms") / (args.clients + 1)  # the clients and the poster
        print(
            f"{variant:19} {layer:28} {med('last_p50_ms'):9.0f} {med('last_p99_ms'):9.0f} "
            f"{med('each_p50_ms'):9.0f} {med('server_cpu_ms'):9.1f} {per_member:9.0f} "
            f"{med('redis_cpu_ms'):10.2f} {missing:8d}"
        )
    for variant, runs in results.items():
        print(f"{variant}: ran {sorted({str(r.get('layer_class')) for r in runs})}")
    loads = [float(r["load1"]) for runs in results.values() for r in runs]  # type: ignore[arg-type]
    print(f"load average (1 min) as the runs ended: {min(loads):.1f}-{max(loads):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
