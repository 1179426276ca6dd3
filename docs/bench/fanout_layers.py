"""Fan-out through one Daphne: Channels' InMemoryChannelLayer against tandem's, paired, bounded.

    .venv/bin/python docs/bench/fanout_layers.py --clients 1000 --messages 10 --repeats 3
    .venv/bin/python docs/bench/fanout_layers.py --clients 1000 --messages 10 --repeats 1 --profile

A minimal relay project is written to a temporary directory: one consumer joins the group ``relay`` and turns
every text frame it receives into a ``group_send`` whose handler sends the same text back. ``tandem serve
--port 0 --no-access-log`` runs it (unified: one Daphne) once per variant and repeat, variants alternating:

- ``channels``: ``--channel-layer channels-memory`` (Channels' class, exactly);
- ``tandem``: the default, the project's in-memory layer served by ``TandemInMemoryChannelLayer``;
- ``tandem-nohop`` (not run unless asked with ``--variants``): the same, and the consumer's ``dispatch`` skips
  Channels' per-message ``close_old_connections()`` thread hop for relay events (they touch no database), as
  the example's ChatConsumer does for its broadcasts;
- ``uvicorn-nohop`` and ``gunicorn-asgi-nohop`` (only when asked): ``tandem-nohop`` on ``--server uvicorn``
  and ``--server gunicorn-asgi``.

The load is ``tandem.bench.fanout.fanout_load`` (the protocol ``tandem bench`` uses): ``--clients`` WebSocket
clients on loopback in this process, one more posts ``--messages`` messages (after 2 warm-ups), each timed
from the post to its receipt by every client. Figures are ms, medians over the repeats of each run's p50/p99.

``cpu/post`` is the server process's CPU time from the first post until the last relay event is sent,
divided by the broadcasts (warm-ups included): the work one broadcast costs the server, which other load on
a shared machine delays but does not change, where the receipt times move with it.

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
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
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
_profiler = cProfile.Profile() if PROFILE else None
_state = {"on": False, "sent": 0, "cpu": 0.0}


def _dump():
    if _profiler is not None and _state["on"]:
        _profiler.disable()
        _profiler.dump_stats(PROFILE)
    if CPU_FILE and _state["on"]:
        with open(CPU_FILE, "w") as out:
            out.write(str(time.process_time() - _state["cpu"]))
    _state["on"] = False


atexit.register(_dump)


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
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
}
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


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
    project: Path, args: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen[str], str, list[str]]:
    argv = [sys.executable, "-m", "tandem", "serve", "--port", "0", "--no-access-log", *args]
    proc = subprocess.Popen(
        argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Ready: "):
            return proc, line.split()[1], lines
    stop(proc)
    raise RuntimeError("tandem serve did not become ready:\n" + "\n".join(lines))


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


def run_once(
    project: Path, variant: str, args: argparse.Namespace, profile: Path | None
) -> dict[str, object]:
    env = dict(os.environ)
    if variant.endswith("-nohop"):
        env["RELAY_SKIP_CLOSE"] = "1"
    broadcasts = WARMUP_MESSAGES + args.messages
    cpu_file = project.parent / f"cpu-{variant}-{os.getpid()}"
    cpu_file.unlink(missing_ok=True)
    env["RELAY_CPU_FILE"] = str(cpu_file)
    env["RELAY_PROFILE_EVENTS"] = str((args.clients + 1) * broadcasts)  # every client and the poster
    if profile is not None:
        env["RELAY_PROFILE"] = str(profile)
    proc, url, lines = start(project, VARIANTS[variant], env)
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
    finally:
        stop(proc)
    # The server's CPU time from the first post to the last relay event, per broadcast: on a shared box the
    # steadier figure of the two (another process's load delays the receipts, not this process's work).
    result["server_cpu_ms"] = (
        round(1000 * float(cpu_file.read_text()) / broadcasts, 1) if cpu_file.exists() else None
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
        f"{'variant':10} {'layer':28} {'last p50':>9} {'last p99':>9} {'each p50':>9} {'cpu/post':>9} "
        f"{'missing':>8}"
    )
    for variant, runs in results.items():

        def med(key: str, runs: list[dict[str, object]] = runs) -> float:
            values = [float(r[key]) for r in runs if r.get(key) is not None]  # type: ignore[arg-type]
            return statistics.median(values) if values else float("nan")

        layer = str(runs[0].get("layer")) if runs else "?"
        missing = sum(int(r["missing"]) for r in runs)  # type: ignore[call-overload]
        print(
            f"{variant:10} {layer:28} {med('last_p50_ms'):9.0f} {med('last_p99_ms'):9.0f} "
            f"{med('each_p50_ms'):9.0f} {med('server_cpu_ms'):9.1f} {missing:8d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
