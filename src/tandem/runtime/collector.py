"""Python's cyclic garbage collector in tandem's app server processes.

A broadcast to 1,000 WebSockets allocates tens of thousands of short-lived containers (events, frames,
futures), so at Python's default generation-0 threshold of 700 the collector runs dozens of times per
broadcast and, every hundred or so of those, a full collection walks every tracked object of the process:
the interpreter's, Django's, the servers' and each connection's. Measured on one Daphne serving 1,000
clients in one room, those full collections were the broadcasts whose last receipt took 230-250 ms where the
others took 110-150 ms (README, Fan-out).

So once the application is imported, before the first request: collect what the import left, freeze the
survivors (modules, settings, URL patterns: they live as long as the process, and a frozen object is never
walked again), and raise the generation-0 threshold (``--gc-threshold``; Python's default is 700). Cyclic
garbage then waits a little longer for its collection; everything without a cycle is still freed at once by
reference counting.
"""

from __future__ import annotations

import gc


def settle(threshold0: int | None) -> None:
    """Freeze what the import left alive and set generation 0's threshold; None leaves the collector alone."""
    if threshold0 is None:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold0, gen1, gen2)
