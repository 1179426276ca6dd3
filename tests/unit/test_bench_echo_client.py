"""The echo load's raw-frame clients (tandem.bench.echo_client) against a real WebSocket server: the
websockets library's, on 127.0.0.1 port 0, which checks every frame the clients send (masking included)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from tandem.bench.echo_client import MAX_FRAME, parse_frames
from tandem.bench.ws_load import ECHO_PAYLOAD, echo_load

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, **options: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, compression=None, **options) as running:  # type: ignore[arg-type]
        port = running.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/echo/"


async def echo(conn: ServerConnection) -> None:
    async for message in conn:
        await conn.send(message)


async def test_echo_round_trips_are_counted_and_every_client_closes_with_1000() -> None:
    codes: list[int | None] = []
    origins: list[str | None] = []

    async def handler(conn: ServerConnection) -> None:
        origins.append(conn.request.headers.get("Origin") if conn.request else None)
        await echo(conn)
        codes.append(conn.close_code)

    async with server(handler) as url:
        result = await echo_load(url, "http://127.0.0.1", clients=4, duration=0.5, warmup=0.1)
        # the server's handlers finish once the close handshakes are done
        for _ in range(200):
            if len(codes) == 4:
                break
            await asyncio.sleep(0.01)  # wait-ok: the polling interval of a bounded wait
    assert result["connected"] == 4
    assert result["errors"] == 0, result["first_failure"]
    assert isinstance(result["messages"], int) and result["messages"] > 100
    assert origins == ["http://127.0.0.1"] * 4
    assert codes == [1000] * 4


async def test_a_route_that_answers_something_else_is_no_echo() -> None:
    async def handler(conn: ServerConnection) -> None:
        async for _ in conn:
            await conn.send("welcome to the room")

    async with server(handler) as url:
        result = await echo_load(url, "http://127.0.0.1", clients=2, duration=0.3, warmup=0)
    assert result["errors"] == 2
    assert "instead of the frame sent" in str(result["first_failure"])
    assert "welcome to the room" in str(result["first_failure"])


async def test_a_server_close_is_reported_with_its_code() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.recv()
        await conn.close(1011, "boom")

    async with server(handler) as url:
        result = await echo_load(url, "http://127.0.0.1", clients=1, duration=0.3, warmup=0)
    assert result["errors"] == 1
    assert result["first_failure"] == "the server closed a connection (code 1011)"


async def test_a_refused_handshake_names_the_status() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        return conn.respond(403, "no\n")

    async with server(echo, process_request=refuse) as url:
        try:
            await echo_load(url, "http://127.0.0.1", clients=2, duration=0.3, warmup=0)
        except RuntimeError as exc:
            assert "handshake answered HTTP 403" in str(exc)
        else:
            raise AssertionError("no connection opened, yet no error")


async def test_pings_are_answered_while_echoing() -> None:
    pongs: list[float] = []

    async def handler(conn: ServerConnection) -> None:
        async def ping() -> None:
            waiter = await conn.ping(b"are you there")
            pongs.append(await asyncio.wait_for(waiter, 5))

        pinging = asyncio.create_task(ping())
        await echo(conn)
        await pinging

    async with server(handler) as url:
        result = await echo_load(url, "http://127.0.0.1", clients=1, duration=0.3, warmup=0)
    assert result["errors"] == 0, result["first_failure"]
    assert len(pongs) == 1


def test_extended_lengths_are_parsed_and_a_partial_frame_is_kept() -> None:
    big = "y" * 70_000  # 64-bit extended length
    frame = bytearray(bytes([0x81, 127]) + struct.pack("!Q", len(big)) + big.encode())
    frame += bytes([0x81, 126]) + struct.pack("!H", 300) + b"z" * 300  # 16-bit extended length
    frame += bytes([0x81, 5])  # the next frame's head only: kept for the next read
    frames, error = parse_frames(frame)
    assert error is None
    assert [len(f.payload) for f in frames] == [70_000, 300]
    assert bytes(frame) == bytes([0x81, 5])


def test_masked_or_oversized_server_frames_are_protocol_errors() -> None:
    _, masked = parse_frames(bytearray([0x81, 0x80 | 4, 1, 2, 3, 4, 5, 6, 7, 8]))
    assert masked == "the server sent a masked frame"
    _, oversized = parse_frames(bytearray(bytes([0x82, 127]) + struct.pack("!Q", MAX_FRAME + 1)))
    assert oversized == f"the server sent a {MAX_FRAME + 1}-byte frame"


def test_the_payload_is_a_small_text_frame() -> None:
    assert len(ECHO_PAYLOAD.encode()) == 64
