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


def variant_table(cores: int) -> tuple[Variant, ...]:
    """Every variant, in the order they run. ``cores`` sets the multi-process unified variant."""
    many = max(2, cores)
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
    table: Sequence[Variant], modes: Sequence[str], names: Sequence[str]
) -> tuple[Variant, ...]:
    """The variants to run: those named (all when none are), restricted to ``modes``, in table order."""
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
    chosen = tuple(v for v in table if (not names or v.name in names) and v.mode in modes)
    if not chosen:
        raise UsageError(
            "no variant left to run: --variants names none of the --modes given",
            hint="e.g. --modes unified,split --variants unified-1,split-unix",
        )
    return chosen


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
