"""Reused threads for Django's sync views under an ASGI server.

Django's ASGI handler runs each HTTP request in ``asgiref.sync.ThreadSensitiveContext()``: the request's
sync code (views, middleware, the ORM) gets a thread of its own, so one slow view does not hold up the
others. Without an executor of our own, asgiref starts a new thread for every request and, when it ends,
another thread to join it. Profiled under Daphne on a trivial JSON view (py-spy, docs/bench/minimal),
starting and joining those threads took about 40% of the event loop's time.

``PooledThreadsASGI`` enters that context itself, first (Django's own context inside it then does
nothing), and hands asgiref a single-thread executor from a pool for it; once the request is done the
executor goes back to the pool instead of being shut down. Each request still has its thread to itself
while it runs, as before; what changes is that the threads live on, so their database connections can
persist between requests as Django's ``CONN_MAX_AGE`` intends (WSGI servers' threads behave the same way),
where a new thread per request could never reuse one. An executor whose request ended with an exception
or was cancelled (the client went away: its view may still be running there) is not reused, and one
goes back to the pool only once idle (a task the request left behind may still be running a call there).
With ``CONN_MAX_AGE`` above 0 each process may then hold a connection per pooled thread (up to IDLE_KEPT
idle, plus the busy ones): size the database's connection limit for it, or leave ``CONN_MAX_AGE`` at 0.

Why not asgiref 3.13's ``ThreadSensitiveContext(executor=...)``: with it, a task the request left behind
(``asyncio.create_task`` in an async view) that calls ``sync_to_async`` after the response raises
RuntimeError, where Django alone gives it a new thread. Here the executor is only lent to asgiref's table
(``SyncToAsync.context_to_thread_executor``, not public API: checked before use, and without it nothing
changes) and taken back before the context exits, so such a task gets a new thread exactly as before.

WebSockets are left alone: a consumer's lifetime is the connection's, and Channels manages its threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tandem.runtime.asgi imports this module
    from tandem.runtime.asgi import ASGIApp, Receive, Scope, Send

IDLE_KEPT = 32  # idle threads kept for the next requests; more are stopped as their requests end


def supported() -> bool:
    """Whether asgiref still keeps its per-context executors in the table this lends to."""
    from asgiref.sync import SyncToAsync, ThreadSensitiveContext

    table = getattr(SyncToAsync, "context_to_thread_executor", None)
    return (
        table is not None and hasattr(table, "__setitem__") and hasattr(ThreadSensitiveContext, "__aenter__")
    )


class PooledThreadsASGI:
    def __init__(self, app: ASGIApp, idle_kept: int = IDLE_KEPT) -> None:
        self.app = app
        self.idle: list[ThreadPoolExecutor] = []
        self.idle_kept = idle_kept
        self.made = 0  # executors created (a figure for the tests: reuse shows as few)
        self.returning = 0  # executors of finished requests not yet idle (back in the pool once they are)

    def _take(self) -> ThreadPoolExecutor:
        if self.idle:
            return self.idle.pop()
        self.made += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-request")

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        self.returning -= 1
        if len(self.idle) < self.idle_kept:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from asgiref.sync import SyncToAsync, ThreadSensitiveContext

        context = ThreadSensitiveContext()
        async with context:
            if context.token is None:  # inside someone else's context already: theirs decides
                await self.app(scope, receive, send)
                return
            executor = self._take()
            table = SyncToAsync.context_to_thread_executor
            table[context] = executor
            finished = False
            try:
                await self.app(scope, receive, send)
                finished = True
            finally:
                # Taken back before the context exits (which would shut it down); a task left behind
                # that calls sync_to_async later gets a new executor from asgiref, as without tandem.
                if table.get(context) is executor:
                    del table[context]
                if finished:
                    # Back in the pool only once idle: a task the request left behind may still run a sync
                    # call there; the next request must not queue behind it or share its thread. The no-op
                    # runs after whatever is queued, and the response is not held up by the wait.
                    loop = asyncio.get_running_loop()

                    def idle(_: object) -> None:
                        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (process exit)
                            loop.call_soon_threadsafe(self._give_back, executor)

                    self.returning += 1
                    executor.submit(int).add_done_callback(idle)
                else:  # its view may still run there (a cancelled request): not shared with the next one
                    executor.shutdown(wait=False)
