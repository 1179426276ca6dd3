"""HTTP load: ``wrk`` when it is installed, else a labelled Python fallback (keep-alive GETs over raw
asyncio streams, run in the worker process). The fallback's figures are far lower than wrk's on the same
server: the client, not the server, is then the bottleneck, so the two are never compared."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tandem.bench.figures import HttpFigure, percentile
from tandem.bench.tlsclient import client_context

WRK = "wrk"
PYTHON = "python"

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_BAD = re.compile(r"^tandem-bad: (\d+)$", re.M)
_FIRST = re.compile(r"^tandem-first: (.*)$", re.M)
# wrk counts only 4xx/5xx as errors ("Non-2xx or 3xx responses"): a redirect to a login page would pass as
# a served page. This script counts every answer that is not 2xx, per thread, and reports the first one.
STATUS_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; first = "" end
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first == "" then first = "HTTP " .. status end
  end
end
function done(summary, latency, requests)
  local total, seen = 0, ""
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
    local f = t:get("first")
    if seen == "" and f ~= nil then seen = f end
  end
  io.write(string.format("tandem-bad: %d\\ntandem-first: %s\\n", total, seen))
end
"""


@dataclass(frozen=True)
class WrkOutput:
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    duration_s: float
    errors: int  # socket errors plus answers that were not 2xx
    first_error: str | None = None


def parse_wrk(text: str) -> WrkOutput:
    """The figures in wrk's ``--latency`` output. Raises ValueError when it holds no rate."""
    rate = _RATE.search(text)
    if rate is None:
        raise ValueError("no 'Requests/sec:' line in wrk's output")
    latencies = {q: float(value) * _UNITS_MS[unit] for q, value, unit in _PERCENTILE.findall(text)}
    total = _TOTAL.search(text)
    requests = int(total.group(1)) if total else 0
    duration = float(total.group(2)) * _UNITS_MS[total.group(3)] / 1000.0 if total else 0.0
    socket_errors = _SOCKET_ERRORS.search(text)
    errors, first = 0, None
    if socket_errors:
        kinds = ("connect", "read", "write", "timeout")
        counts = [int(n) for n in socket_errors.groups()]
        errors = sum(counts)
        first = next((f"socket {kind} errors" for kind, n in zip(kinds, counts, strict=True) if n), None)
    bad = _BAD.search(text)
    non_2xx = _NON_2XX.search(text)  # wrk's own count (4xx/5xx only), when the script's is missing
    count = int(bad.group(1)) if bad else int(non_2xx.group(1)) if non_2xx else 0
    if count:
        errors += count
        seen = _FIRST.search(text)
        first = (seen.group(1).strip() if seen else "") or first or "an answer that was not 2xx"
    return WrkOutput(
        float(rate.group(1)), latencies.get("50"), latencies.get("99"), requests, duration, errors, first
    )


def wrk_path() -> str | None:
    return shutil.which(WRK)


def wrk_version(path: str) -> str:
    try:
        result = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def run_wrk(path: str, url: str, *, duration: float, connections: int, threads: int = 2) -> WrkOutput:
    """One wrk run; bounded by its own duration plus a margin."""
    seconds = max(1, round(duration))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="tandem-wrk-") as script:
        script.write(STATUS_SCRIPT)
        script.flush()
        argv = [
            path,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script.name,
            url,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout).split())[:300]
        raise RuntimeError(f"wrk exited with code {result.returncode}: {message}")
    return parse_wrk(result.stdout)


def wrk_warmup(path: str, url: str, *, warmup: float, connections: int) -> None:
    """Unrecorded load before the first sample; its failures show up in the samples themselves."""
    if warmup >= 1:
        with contextlib.suppress(RuntimeError, ValueError, OSError, subprocess.TimeoutExpired):
            run_wrk(path, url, duration=warmup, connections=connections)


def wrk_figure(path: str, target: str, url: str, *, duration: float, connections: int) -> HttpFigure:
    """One recorded wrk sample."""
    try:
        out = run_wrk(path, url, duration=duration, connections=connections)
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return HttpFigure(target, url, WRK, 0.0, None, None, 0, 0, 0.0, connections, error=str(exc))
    return HttpFigure(
        target, url, WRK, out.requests_per_s, out.p50_ms, out.p99_ms, out.requests, out.errors,
        out.duration_s, connections, first_error=out.first_error,
    )  # fmt: skip


# --- the Python fallback (runs inside the worker process) -----------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()  # delimited by close
        return status, False
    return status, headers.get("connection") != "close"


async def _client(
    url: str,
    until: float,
    record: bool,
    latencies: list[float],
    counts: list[int],
    first: list[str],
    cafile: str | None = None,
) -> None:
    parts = urlsplit(url)
    tls = client_context(url, cafile)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: tandem-bench\r\n\r\n".encode()
    writer: asyncio.StreamWriter | None = None
    try:
        while time.monotonic() < until:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, ssl=tls)
            started = time.monotonic()
            writer.write(request)
            status, keep = await _read_response(reader)
            if record:
                latencies.append(time.monotonic() - started)
                good = 200 <= status < 300  # a redirect (to a login page, say) is not the page measured
                counts[0 if good else 1] += 1
                if not good and not first:
                    first.append(f"HTTP {status}")
            if not keep:
                writer.close()
                writer = None
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        if record:
            counts[1] += 1
            if not first:
                first.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        if writer is not None:
            writer.close()


async def python_load(
    url: str, *, duration: float, warmup: float, connections: int, cafile: str | None = None
) -> dict[str, object]:
    """Keep-alive GETs from ``connections`` clients; a client that fails stops (counted as an error).
    ``cafile``: for https, the certificate to trust (tandem.bench.tlsclient.client_context)."""
    if warmup > 0:
        until = time.monotonic() + warmup
        await asyncio.gather(
            *(_client(url, until, False, [], [0, 0], [], cafile) for _ in range(connections))
        )
    latencies: list[float] = []
    counts = [0, 0]
    first: list[str] = []
    started = time.monotonic()
    until = started + duration
    await asyncio.gather(
        *(_client(url, until, True, latencies, counts, first, cafile) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "requests_per_s": counts[0] / elapsed if elapsed > 0 else 0.0,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "requests": counts[0],
        "errors": counts[1],
        "first_error": first[0] if first else None,
        "duration_s": elapsed,
    }
