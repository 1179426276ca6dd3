"""tandem.runtime.threads.PooledThreadsASGI with the real asgiref: a request's sync code gets a thread of its
own while it runs (as under Django's own ThreadSensitiveContext), and the thread is reused by later requests
instead of being started and joined for each one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async

from tandem.runtime.threads import PooledThreadsASGI, supported

pytestmark = pytest.mark.skipif(not supported(), reason="asgiref without its per-context executor table")


async def call(app: Any, scope_type: str = "http") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": scope_type, "path": "/"}, receive, send)
    return sent


async def returned(app: PooledThreadsASGI) -> None:
    """Until every finished request's executor is idle and back in the pool (bounded: 5 s)."""
    for _ in range(500):
        if app.returning == 0:
            return
        await asyncio.sleep(0.01)  # wait-ok: the polling interval of a bounded wait
    raise AssertionError(f"{app.returning} executor(s) never came back")


class ThreadOfItsSyncCode:
    """Answers with the thread its sync part ran in, inside Django's own context as Django's handler does."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext():  # what django.core.handlers.asgi does per request
            ident = await sync_to_async(threading.get_ident)()
        self.threads.append(ident)
        await send({"type": "http.response.start", "status": 200})


async def test_one_thread_serves_requests_one_after_another() -> None:
    inner = ThreadOfItsSyncCode()
    app = PooledThreadsASGI(inner)
    for _ in range(5):
        await call(app)
        await returned(app)  # a server's next request comes later than the loop's next callback
    assert len(set(inner.threads)) == 1, inner.threads
    assert app.made == 1
    assert inner.threads[0] != threading.get_ident()


async def test_concurrent_requests_each_get_a_thread() -> None:
    """Two requests whose sync parts wait for each other: on one shared thread they would never meet."""
    meeting = threading.Barrier(2, timeout=10)
    threads: list[int] = []

    async def app_body(scope: Any, receive: Any, send: Any) -> None:
        def meet() -> int:
            meeting.wait()
            return threading.get_ident()

        async with ThreadSensitiveContext():
            threads.append(await sync_to_async(meet)())

    app = PooledThreadsASGI(app_body)
    await asyncio.wait_for(asyncio.gather(call(app), call(app)), 15)
    await returned(app)
    assert len(set(threads)) == 2
    assert app.made == 2 and len(app.idle) == 2  # both back in the pool for the next requests


async def test_a_failed_request_does_not_lend_its_thread_again() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await sync_to_async(threading.get_ident)()
        raise ValueError("the view failed")

    app = PooledThreadsASGI(failing)
    with pytest.raises(ValueError, match="the view failed"):
        await call(app)
    assert app.idle == [] and app.made == 1


async def test_a_task_left_behind_still_gets_a_thread_after_the_response() -> None:
    """An async view's fire-and-forget task calling sync_to_async after the request ended works as under
    Django alone (asgiref 3.13's executor= parameter would raise RuntimeError there)."""
    released = asyncio.Event()
    results: list[object] = []
    left: list[asyncio.Task[None]] = []

    async def view(scope: Any, receive: Any, send: Any) -> None:
        async def later() -> None:
            await released.wait()
            try:
                results.append(await sync_to_async(threading.get_ident)())
            except Exception as exc:  # the failure is the test's finding
                results.append(exc)

        async with ThreadSensitiveContext():
            left.append(asyncio.create_task(later()))
        await send({"type": "http.response.start", "status": 200})

    app = PooledThreadsASGI(view)
    await call(app)
    released.set()
    await asyncio.wait_for(left[0], 10)
    assert len(results) == 1 and isinstance(results[0], int), results


async def test_a_thread_still_busy_with_a_task_left_behind_is_not_lent_again() -> None:
    """A task the request left behind runs a sync call on the request's thread while the response ends: the
    next request gets another thread instead of queueing behind that call (and sharing its thread)."""
    release = threading.Event()
    running = threading.Event()
    threads: list[int] = []
    left: list[asyncio.Task[int]] = []

    def slow() -> int:
        running.set()
        release.wait(10)
        return threading.get_ident()

    async def view(scope: Any, receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext():
            threads.append(await sync_to_async(threading.get_ident)())
            if not left:
                left.append(asyncio.create_task(sync_to_async(slow)()))
                # Until the left-behind call runs on this request's thread (bounded: 5 s).
                assert await asyncio.to_thread(running.wait, 5)
        await send({"type": "http.response.start", "status": 200})

    app = PooledThreadsASGI(view)
    await call(app)
    assert app.returning == 1 and app.idle == []  # busy: not back in the pool
    await asyncio.wait_for(call(app), 5)  # would wait 10 s behind slow() on a shared thread
    assert threads[0] != threads[1] and app.made == 2
    release.set()
    assert await asyncio.wait_for(left[0], 10) == threads[0]
    await returned(app)
    assert len(app.idle) == 2


async def test_websockets_pass_through_untouched() -> None:
    seen: list[object] = []

    async def consumer(scope: Any, receive: Any, send: Any) -> None:
        from asgiref.sync import SyncToAsync

        seen.append(SyncToAsync.thread_sensitive_context.get(None))

    app = PooledThreadsASGI(consumer)
    await call(app, "websocket")
    assert seen == [None] and app.made == 0
