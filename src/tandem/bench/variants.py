"""The topology variants a benchmark can start, picked by name from a table.

Each variant is one ``tandem serve`` invocation (the same Plan/Supervisor path users run) plus the set of
measurements worth taking on it; measuring everything everywhere would triple the run time for figures
that cannot differ (the echo consumer never touches the channel layer, for instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.errors import UsageError

HTTP = "http"
ECHO = "echo"
FANOUT = "fanout"
CONNS = "conns"
DIRECT = "direct"  # also measure Gunicorn and Daphne reached directly (split over TCP only)

MODES = ("unified", "split")

# When a variant runs without being named in --variants: always, with --servers, with --tls (or
# --tls-cert), or only when named.
DEFAULT = "default"
SERVERS = "servers"
TLS = "tls"
NAMED = "named"

# tandem's default app servers (the seed's pair); a variant naming another is a server-option variant.
DEFAULT_HTTP_SERVER = "gunicorn"
DEFAULT_WS_SERVER = "daphne"


@dataclass(frozen=True)
class Variant:
    name: str
    mode: str
    description: str
    serve_args: tuple[str, ...]  # after `tandem serve --port 0 --mode MODE`
    redis: bool  # runs with a private Redis channel layer (--channel-layer unix://...)
    procs: int | None  # Daphne processes; None: tandem's default for the project
    measure: frozenset[str]
    # Every other variant runs with the access log off (a benchmark of the topology, not of logging);
    # a variant with it on runs right after ``pair_of``, the same variant with it off: a paired figure.
    access_log: bool = False
    pair_of: str | None = None
    proxy: str = "nginx"  # split mode's proxy (--proxy); a caddy variant is skipped without caddy
    # The app servers it runs (tandem.servers names): split's WSGI server (None in unified mode) and the
    # ASGI server (unified mode's one server). serve_args carries the matching --http-server/--ws-server.
    http_server: str | None = DEFAULT_HTTP_SERVER
    ws_server: str = DEFAULT_WS_SERVER
    runs: str = DEFAULT  # DEFAULT | SERVERS (with --servers) | NAMED (only when --variants names it)
    # Started by hand as the Channels docs do (tandem.bench.handbuilt), not through tandem serve: a
    # reference for the ratio, never a topology tandem recommends.
    handbuilt: bool = False
    # Served over https/wss with the bench's --tls or --tls-cert/--tls-key (added to serve_args by the
    # runner): "what does TLS cost", measured next to ``tls_of``, the same topology over plain HTTP. Never
    # a topology the recommendation picks between.
    tls_of: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_of is not None

    @property
    def servers(self) -> tuple[str, ...]:
        """The app servers it runs that are not tandem's defaults (each needs its package installed)."""
        chosen = (self.http_server, self.ws_server)
        return tuple(s for s in chosen if s and s not in (DEFAULT_HTTP_SERVER, DEFAULT_WS_SERVER))


def _server_variants() -> tuple[Variant, ...]:
    """``--servers``: each other server option tandem supports, next to the default it replaces.

    Each measures only what its server serves (split-granian's WebSockets are still Daphne's, the
    ws-server variants' HTTP is still Gunicorn's); fan-out where one process of the server holds the room.
    """
    unix = ("--internal", "unix")
    return (
        Variant(
            "split-granian",
            "split",
            "nginx -> Granian (WSGI) + Daphne over unix sockets",
            (*unix, "--http-server", "granian"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP}),
            http_server="granian",
            runs=SERVERS,
        ),
        Variant(
            # Over TCP, Granian can also be reached directly: with split-tcp (Gunicorn reached directly)
            # the servers' ratio without nginx's share of the cores (tandem.bench.ratios).
            "split-granian-tcp",
            "split",
            "nginx -> Granian (WSGI) + Daphne over 127.0.0.1 TCP, and Granian reached directly",
            ("--internal", "tcp", "--http-server", "granian"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP, DIRECT}),
            http_server="granian",
            runs=SERVERS,
        ),
        Variant(
            "split-gunicorn-asgi",
            "split",
            "nginx -> Gunicorn + Gunicorn's ASGI worker over unix sockets",
            (*unix, "--ws-server", "gunicorn-asgi"),
            redis=False,
            procs=None,
            measure=frozenset({ECHO}),
            ws_server="gunicorn-asgi",
            runs=SERVERS,
        ),
        Variant(
            "split-uvicorn",
            "split",
            "nginx -> Gunicorn + uvicorn over unix sockets",
            (*unix, "--ws-server", "uvicorn"),
            redis=False,
            procs=None,
            measure=frozenset({ECHO}),
            ws_server="uvicorn",
            runs=SERVERS,
        ),
        Variant(
            "unified-uvicorn",
            "unified",
            "uvicorn, 1 process",
            ("--procs", "1", "--server", "uvicorn"),
            redis=False,
            procs=1,
            measure=frozenset({HTTP, ECHO, FANOUT}),
            http_server=None,
            ws_server="uvicorn",
            runs=SERVERS,
        ),
        Variant(
            "unified-gunicorn-asgi",
            "unified",
            "Gunicorn's ASGI worker, 1 worker",
            ("--procs", "1", "--server", "gunicorn-asgi"),
            redis=False,
            procs=1,
            measure=frozenset({HTTP, ECHO, FANOUT}),
            http_server=None,
            ws_server="gunicorn-asgi",
            runs=SERVERS,
        ),
    )


HANDBUILT = Variant(
    "handbuilt-split",
    "split",
    "by hand, as the Channels docs: gunicorn PROJECT.wsgi, daphne PROJECT.asgi, nginx config written the "
    "classic way (127.0.0.1 ports)",
    (),
    redis=False,
    procs=1,
    measure=frozenset({HTTP, ECHO}),
    runs=NAMED,
    handbuilt=True,
)


def _tls_variants() -> tuple[Variant, ...]:
    """``--tls``: the split topologies of each proxy over https and wss (HTTP/1.1 keep-alive, as the plain
    ones), each paired with its plain-HTTP twin for the cost of TLS. Split only: TLS is a proxy's job."""
    unix = ("--internal", "unix")
    return (
        Variant(
            "split-tls",
            "split",
            "nginx (https, wss) -> Gunicorn + Daphne over unix sockets, paired with split-unix",
            unix,
            redis=False,
            procs=None,
            measure=frozenset({HTTP, ECHO}),
            runs=TLS,
            tls_of="split-unix",
        ),
        Variant(
            "split-caddy-tls",
            "split",
            "Caddy (https, wss) -> Gunicorn + Daphne over unix sockets, paired with split-caddy",
            (*unix, "--proxy", "caddy"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP, ECHO}),
            proxy="caddy",
            runs=TLS,
            tls_of="split-caddy",
        ),
    )


def variant_table(cores: int) -> tuple[Variant, ...]:
    """Every variant, in the order they run. ``cores`` sets the multi-process unified variant."""
    many = max(2, cores)
    return (
        *_default_variants(many),
        *_tls_variants(),
        *_server_variants(),
        HANDBUILT,
    )


def _default_variants(many: int) -> tuple[Variant, ...]:
    return (
        Variant(
            "unified-1",
            "unified",
            "Daphne, 1 process",
            ("--procs", "1"),
            redis=False,
            procs=1,
            measure=frozenset({HTTP, ECHO, FANOUT, CONNS}),
        ),
        Variant(
            "unified-1-log",
            "unified",
            "Daphne, 1 process, access log on (tandem's default), paired with unified-1",
            ("--procs", "1"),
            redis=False,
            procs=1,
            measure=frozenset({HTTP}),
            access_log=True,
            pair_of="unified-1",
        ),
        Variant(
            "unified-n",
            "unified",
            f"Daphne, {many} processes on one socket, Redis layer",
            ("--procs", str(many)),
            redis=True,
            procs=many,
            measure=frozenset({HTTP, ECHO, FANOUT}),
        ),
        Variant(
            "unified-1-redis",
            "unified",
            "Daphne, 1 process, Redis layer",
            ("--procs", "1"),
            redis=True,
            procs=1,
            measure=frozenset({FANOUT}),
        ),
        Variant(
            "split-unix",
            "split",
            "nginx -> Gunicorn + Daphne over unix sockets",
            ("--internal", "unix"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP, ECHO, FANOUT, CONNS}),
        ),
        Variant(
            "split-unix-log",
            "split",
            "nginx -> Gunicorn + Daphne over unix sockets, access log on (tandem's default), paired with split-unix",
            ("--internal", "unix"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP}),
            access_log=True,
            pair_of="split-unix",
        ),
        Variant(
            "split-caddy",
            "split",
            "Caddy -> Gunicorn + Daphne over unix sockets",
            ("--internal", "unix", "--proxy", "caddy"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP, ECHO}),
            proxy="caddy",
        ),
        Variant(
            "split-tcp",
            "split",
            "nginx -> Gunicorn + Daphne over 127.0.0.1 TCP, and each reached directly",
            ("--internal", "tcp"),
            redis=False,
            procs=None,
            measure=frozenset({HTTP, ECHO, DIRECT}),
        ),
        Variant(
            "split-redis",
            "split",
            "nginx -> Gunicorn + Daphne over unix sockets, Redis layer",
            ("--internal", "unix"),
            redis=True,
            procs=None,
            measure=frozenset({HTTP, ECHO, FANOUT}),
        ),
    )


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def select_variants(
    table: Sequence[Variant],
    modes: Sequence[str],
    names: Sequence[str],
    *,
    servers: bool = False,
    tls: bool = False,
) -> tuple[Variant, ...]:
    """The variants to run, restricted to ``modes``, in table order: those named (every DEFAULT one when
    none are, and then with ``tls`` every TLS one too), and with ``servers`` every SERVERS one. A NAMED
    variant runs only when named; a TLS one named without ``tls`` is refused (it has no certificate)."""
    unknown_modes = [m for m in modes if m not in MODES]
    if unknown_modes:
        raise UsageError(
            f"--modes: unknown mode {unknown_modes[0]!r}", hint=f"choose from {', '.join(MODES)}"
        )
    known = {v.name for v in table}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"--variants: unknown variant {unknown[0]!r}",
            hint=f"choose from {', '.join(v.name for v in table)}",
        )

    check_tls_names(table, names, tls)

    def wanted(v: Variant) -> bool:
        if v.name in names or (servers and v.runs == SERVERS):
            return True
        # --tls adds the TLS variants to the default set; --variants picks among them by name.
        return not names and (v.runs == DEFAULT or (tls and v.runs == TLS))

    chosen = tuple(v for v in table if wanted(v) and v.mode in modes)
    if not chosen:
        raise UsageError(
            "no variant left to run: --variants names none of the --modes given",
            hint="e.g. --modes unified,split --variants unified-1,split-unix",
        )
    return chosen


def check_tls_names(table: Sequence[Variant], names: Sequence[str], tls: bool) -> None:
    """A TLS variant named in --variants needs a certificate: --tls self-signed or --tls-cert/--tls-key."""
    if tls:
        return
    named = next((v.name for v in table if v.tls and v.name in names), None)
    if named is not None:
        raise UsageError(
            f"--variants: {named} serves https and needs a certificate",
            hint="add --tls self-signed, or --tls-cert FILE --tls-key FILE",
        )


def parse_counts(value: str, option: str) -> tuple[int, ...]:
    """``"100,1000"`` -> (100, 1000); an empty string means none."""
    counts = []
    for item in split_list(value):
        try:
            count = int(item)
        except ValueError:
            raise UsageError(
                f"{option}: {item!r} is not a whole number", hint=f"e.g. {option} 100,1000"
            ) from None
        if count < 1:
            raise UsageError(f"{option}: {count} must be at least 1", hint=f"e.g. {option} 100,1000")
        counts.append(count)
    return tuple(sorted(set(counts)))
