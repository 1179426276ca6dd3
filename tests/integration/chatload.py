"""A bounded mixed load against the example chat: HTTP requests plus chat clients that reconnect and
resend unacknowledged messages, as a real client would. Used by the fault tests to prove that nothing
acknowledged is lost while processes are killed, hung and reloaded."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx
import websockets

from tests import conftest


def login(base: str, username: str, password: str) -> str:
    """Logs in through the real login form; returns the session cookie value."""
    with httpx.Client(base_url=base, timeout=10) as client:
        return conftest.login(client, username, password)


@dataclass
class ChatClient:
    base: str
    room: str
    session: str
    name: str
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> saved id
    received: set[int] = field(default_factory=set)  # message ids seen (broadcast or history)
    pending: dict[str, str] = field(default_factory=dict)  # client_id -> text, not yet acked
    reconnects: int = 0
    close_codes: list[int | None] = field(default_factory=list)
    watermark: int = 0  # every message of the room up to this id came in a catch-up
    opened: list[float] = field(default_factory=list)  # monotonic times the WebSocket opened
    lost: list[float] = field(default_factory=list)  # ... and an open one was lost

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://", 1) + f"ws/chat/{self.room}/"

    async def catch_up(self) -> None:
        """Once a socket is open (it joined the room's group before that): every message above the
        watermark, as the example's chat.js does. Only the room's recent history would lose what a client
        missed while more than a page of messages was posted. A failed read raises: run() then counts the
        connection as failed and catches up again on the next one, as a client must."""
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            for _ in range(1000):  # bounded: a server answering more=true without progress fails it
                before = self.watermark
                response = await client.get(
                    f"/api/rooms/{self.room}/messages/", params={"since": self.watermark}
                )
                response.raise_for_status()
                data = response.json()
                ids = [int(m["id"]) for m in data["messages"]]
                self.received.update(ids)
                self.watermark = max([self.watermark, *ids])
                if not data["more"]:
                    return
                if self.watermark == before:
                    raise RuntimeError(f"catch-up since {before} did not advance")
            raise RuntimeError("catch-up did not finish in 1000 pages")

    async def run(
        self, messages: int, interval: float, deadline: float, hold: asyncio.Event | None = None
    ) -> None:
        """Sends ``messages`` messages, reconnecting and resending until each is acked; then stays connected
        until ``hold`` is set (if given) and a further second for the last broadcasts."""
        sent = 0
        next_send = time.monotonic()

        def held() -> bool:  # a lost socket is reopened while held too
            return hold is not None and not hold.is_set()

        while time.monotonic() < deadline and (sent < messages or self.pending or held()):
            try:
                async with websockets.connect(
                    self.ws_url,
                    origin=self.base.rstrip("/"),
                    additional_headers={"Cookie": f"sessionid={self.session}"},
                    open_timeout=3,
                    close_timeout=2,
                ) as ws:
                    self.opened.append(time.monotonic())
                    await self.catch_up()
                    for client_id, text in list(self.pending.items()):  # resend what was never acked
                        await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
                    while time.monotonic() < deadline and (sent < messages or self.pending):
                        if sent < messages and time.monotonic() >= next_send:
                            client_id = f"{self.name}-{sent}-{uuid.uuid4().hex[:8]}"
                            text = f"{self.name} says {sent}"
                            self.pending[client_id] = text  # resent after a reconnect until acked
                            sent += 1
                            next_send = time.monotonic() + interval
                            await ws.send(
                                json.dumps({"type": "message", "text": text, "client_id": client_id})
                            )
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout=interval)
                        except TimeoutError:
                            continue
                        self._handle(json.loads(raw))
                    while held() and time.monotonic() < deadline:
                        try:
                            self._handle(json.loads(await asyncio.wait_for(ws.recv(), timeout=0.2)))
                        except TimeoutError:
                            continue
                    # Stay a moment for the broadcasts of our last messages.
                    end = time.monotonic() + 1.0
                    while time.monotonic() < end:
                        try:
                            self._handle(json.loads(await asyncio.wait_for(ws.recv(), timeout=0.2)))
                        except TimeoutError:
                            continue
                    return
            except websockets.ConnectionClosed as exc:
                self.close_codes.append(exc.rcvd.code if exc.rcvd else None)
            except (OSError, TimeoutError, websockets.InvalidHandshake, httpx.HTTPError):
                pass
            if len(self.lost) < len(self.opened):
                self.lost.append(time.monotonic())
            self.reconnects += 1
            await asyncio.sleep(0.2)  # wait-ok: reconnect pacing inside the bounded loop

    def _handle(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        if kind == "ack":
            client_id = str(message["client_id"])
            self.acked[client_id] = int(message["id"])  # type: ignore[call-overload]
            self.pending.pop(client_id, None)
            self.received.add(int(message["id"]))  # type: ignore[call-overload]
        elif kind == "message":
            self.received.add(int(message["id"]))  # type: ignore[call-overload]


@dataclass
class HttpLoad:
    base: str
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    ok_at: list[float] = field(default_factory=list)  # monotonic time of each 200
    failed_at: list[tuple[float, float]] = field(default_factory=list)  # (sent, failed) of each failure

    async def run(self, deadline: float, path: str = "healthz", concurrency: int = 2) -> None:
        async def worker() -> None:
            async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
                while time.monotonic() < deadline:
                    sent = time.monotonic()
                    try:
                        response = await client.get(path)
                    except httpx.HTTPError as exc:
                        self.failed += 1
                        self.errors.append(repr(exc))
                        self.failed_at.append((sent, time.monotonic()))
                        await asyncio.sleep(0.05)  # wait-ok: pacing after an error, inside the bounded loop
                        continue
                    if response.status_code == 200:
                        self.ok += 1
                        self.ok_at.append(time.monotonic())
                    else:
                        self.failed += 1
                        self.errors.append(str(response.status_code))
                        self.failed_at.append((sent, time.monotonic()))
                    await asyncio.sleep(0.01)  # wait-ok: a modest, bounded request rate

        await asyncio.gather(*(worker() for _ in range(concurrency)))
