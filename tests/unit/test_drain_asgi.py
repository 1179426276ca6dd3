"""tandem.runtime.served.DrainASGI under a real uvicorn (the wrapper uvicorn and Gunicorn's ASGI worker run):
a WebSocket accepted while the server drains completes its handshake and is closed with 1012 (service
restart), so the client reconnects elsewhere; the access log, written inside the drain, says what the
client got."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tandem.runtime.accesslog import BufferedLog, DaphneAccessLog
from tandem.runtime.served import SERVICE_RESTART, AccessLogASGI, DrainASGI

uvicorn = pytest.importorskip("uvicorn")


class Chat:
    """Accepts, then sends a greeting and echoes: after the drain's close, its sends must go nowhere."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        try:
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "hello"})
            while (message := await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text")})
        except BaseException as exc:  # recorded for the test to show, then raised as before
            self.errors.append(exc)
            raise


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):  # readiness by polling, bounded (5 s)
            if server.started:
                break
            await asyncio.sleep(0.01)  # wait-ok: the polling interval of a bounded wait
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def test_a_websocket_accepted_while_draining_gets_1012_after_its_handshake(tmp_path: Path) -> None:
    chat = Chat()
    log = DaphneAccessLog(BufferedLog(path=str(tmp_path / "access.log")), "common", "uvicorn  | ")
    drain = DrainASGI(AccessLogASGI(chat, log))
    async with served(drain) as port:
        url = f"ws://127.0.0.1:{port}/ws/chat/"
        async with connect(url) as before:  # open before the drain: closed by drain() with its code
            assert await before.recv() == "hello"
            assert await drain.drain(SERVICE_RESTART) == 1
            with pytest.raises(ConnectionClosed) as first:
                await asyncio.wait_for(before.recv(), 5)
        assert first.value.rcvd is not None and first.value.rcvd.code == SERVICE_RESTART

        async with connect(url) as late:  # the handshake succeeds (no HTTP 403) ...
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(late.recv(), 5)  # ... and no greeting arrives after the close
        assert closed.value.rcvd is not None and closed.value.rcvd.code == SERVICE_RESTART
    assert not [e for e in chat.errors if not isinstance(e, asyncio.CancelledError)], chat.errors
    log.log.flush()
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == 2 and all('"WSCONNECT /ws/chat/' in line and " 101 " in line for line in lines), (
        lines
    )
