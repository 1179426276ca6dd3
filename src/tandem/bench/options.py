"""``tandem bench`` options, validated once into a frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.bench.variants import MODES, check_tls_names, parse_counts, split_list, variant_table
from tandem.errors import UsageError

HTTP_TOOLS = ("auto", "wrk", "python")


@dataclass(frozen=True)
class BenchOptions:
    project_dir: Path | None = None
    settings: str | None = None
    modes: tuple[str, ...] = ("unified", "split")
    variants: tuple[str, ...] = ()
    servers: bool = False  # also every server-option variant (tandem.bench.variants.SERVERS)
    duration: float = 10.0
    warmup: float = 2.0
    # None: taken from the project (a GET route that answers 200; the first route that says it echoes).
    http_path: str | None = None
    ws_path: str | None = None
    # None: no fan-out. A route the user says speaks the fan-out protocol documented in the README.
    fanout_path: str | None = None
    repeat: int = 3
    connections: int = 32
    clients: int = 32
    fanout: tuple[int, ...] = (100, 1000)
    fanout_messages: int = 20
    max_conns: int = 8000
    conns_timeout: float = 60.0
    http_tool: str = "auto"
    ready_timeout: float = 90.0
    json_path: Path | None = None
    report_path: Path | None = None
    # The TLS variants' certificate, as serve takes it: "self-signed" (each serve makes its own), or the
    # user's pair (absolute paths: serve runs in the project directory). Neither: no TLS variant runs.
    tls: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls_on(self) -> bool:
        return self.tls is not None or self.tls_cert is not None


def _path(value: str, option: str) -> str:
    if not value.startswith("/"):
        raise UsageError(f"{option}: {value!r} must start with '/'", hint=f"e.g. {option} /{value}")
    return value


def _optional_path(value: object, option: str) -> str | None:
    return _path(str(value), option) if value else None


def _tls(raw: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(--tls, --tls-cert, --tls-key) checked as serve checks them, the user's files read now: a bad pair
    is refused before any server starts, not once per TLS variant."""
    tls, cert, key = raw.get("tls"), raw.get("tls_cert"), raw.get("tls_key")
    if tls is not None and tls != "self-signed":
        raise UsageError(f"--tls: must be self-signed, not {tls!r}", hint="or give --tls-cert and --tls-key")
    if tls is not None and (cert or key):
        raise UsageError(
            "--tls self-signed and --tls-cert/--tls-key are two ways to get a certificate: give one"
        )
    if bool(cert) != bool(key):
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        raise UsageError(f"{given} needs {missing}")
    if not cert:
        return tls, None, None
    from tandem.tls import TlsFiles, ensure_certificate

    files = TlsFiles(str(Path(str(cert)).resolve()), str(Path(str(key)).resolve()))
    ensure_certificate(files)  # ConfigError: unreadable, not PEM, not a pair, expired
    return None, files.cert, files.key


def parse_options(raw: Mapping[str, Any]) -> BenchOptions:
    """Validates what the CLI parsed; every problem is one UsageError naming the option."""
    duration = float(raw.get("duration", 10.0))
    if not 0 < duration <= 3600:
        raise UsageError(
            f"--duration: {duration:g} must be between 0 and 3600 seconds", hint="e.g. --duration 10"
        )
    warmup = float(raw.get("warmup", 2.0))
    if not 0 <= warmup <= 600:
        raise UsageError(f"--warmup: {warmup:g} must be between 0 and 600 seconds", hint="e.g. --warmup 2")
    for name in ("connections", "clients", "fanout_messages"):
        value = int(raw.get(name, 1))
        if not 1 <= value <= 10_000:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option}: {value} must be between 1 and 10000", hint=f"e.g. {option} 32")
    max_conns = int(raw.get("max_conns", 8000))
    if not 0 <= max_conns <= 100_000:
        raise UsageError(f"--max-conns: {max_conns} must be between 0 and 100000", hint="0 skips the figure")
    fanout_path = _optional_path(raw.get("fanout_path"), "--fanout-path")
    if fanout_path is not None and "{room}" not in fanout_path:
        raise UsageError(
            f"--fanout-path: {fanout_path!r} has no {{room}} placeholder", hint="e.g. /ws/chat/{room}/"
        )
    repeat = int(raw["repeat"]) if raw.get("repeat") is not None else 3
    if not 1 <= repeat <= 20:
        raise UsageError(f"--repeat: {repeat} must be between 1 and 20", hint="e.g. --repeat 3")
    modes = split_list(raw.get("modes") or "unified,split")
    names = split_list(raw.get("variants"))
    # Checked here, before the project is loaded, so a typo costs nothing; the table's names do not
    # depend on the core count.
    select_check = variant_table(1)
    bad_mode = next((m for m in modes if m not in MODES), None)
    if bad_mode is not None:
        raise UsageError(f"--modes: unknown mode {bad_mode!r}", hint=f"choose from {', '.join(MODES)}")
    bad_name = next((n for n in names if n not in {v.name for v in select_check}), None)
    if bad_name is not None:
        raise UsageError(
            f"--variants: unknown variant {bad_name!r}",
            hint=f"choose from {', '.join(v.name for v in select_check)}",
        )
    tls, tls_cert, tls_key = _tls(raw)
    check_tls_names(select_check, names, tls is not None or tls_cert is not None)
    http_tool = str(raw.get("http_tool") or "auto")
    if http_tool not in HTTP_TOOLS:
        raise UsageError(
            f"--http-tool: unknown tool {http_tool!r}", hint=f"choose from {', '.join(HTTP_TOOLS)}"
        )
    return BenchOptions(
        project_dir=raw.get("project"),
        settings=raw.get("settings"),
        modes=modes,
        variants=names,
        servers=bool(raw.get("servers")),
        duration=duration,
        warmup=warmup,
        http_path=_optional_path(raw.get("http_path"), "--http-path"),
        ws_path=_optional_path(raw.get("ws_path"), "--ws-path"),
        fanout_path=fanout_path,
        repeat=repeat,
        connections=int(raw.get("connections", 32)),
        clients=int(raw.get("clients", 32)),
        fanout=parse_counts(
            str(raw.get("fanout") if raw.get("fanout") is not None else "100,1000"), "--fanout"
        ),
        fanout_messages=int(raw.get("fanout_messages", 20)),
        max_conns=max_conns,
        conns_timeout=float(raw.get("conns_timeout", 60.0)),
        http_tool=http_tool,
        ready_timeout=float(raw.get("ready_timeout", 90.0)),
        json_path=raw.get("json_path"),
        report_path=raw.get("report_path"),
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
