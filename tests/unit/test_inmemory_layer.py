"""tandem's in-memory channel layer against Channels' own: the same behavioural tests run on both classes,
then tests that only the O(1)-per-message implementation passes (counted, never timed)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from tandem.layers.inmemory import MIN_SWEEP_INTERVAL, TandemInMemoryChannelLayer, is_flat

LAYERS = [
    pytest.param(InMemoryChannelLayer, id="channels"),
    pytest.param(TandemInMemoryChannelLayer, id="tandem"),
]
QUIET = 0.05  # how long a receive that must get nothing is given


class FakeClock:
    """``time.time`` for both layers (they read it through the time module): moves only when told, counts
    how often it is read."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture(params=LAYERS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """A factory for the layer under test, given Channels' CONFIG keys."""
    yield request.param


@pytest.fixture
def layer(make: Callable[..., Any]) -> Any:
    return make()


async def nothing_arrives(layer: Any, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), QUIET)
    except TimeoutError:
        return True
    return False


# --- the same behaviour ----------------------------------------------------------------------------------


async def test_extensions_and_config(make: Callable[..., Any]) -> None:
    layer = make(expiry=5, group_expiry=30, capacity=7)
    assert layer.extensions == ["groups", "flush"]
    assert (layer.expiry, layer.group_expiry, layer.capacity) == (5, 30, 7)
    default = make()
    assert (default.expiry, default.group_expiry, default.capacity) == (60, 86400, 100)
    await layer.close()


def test_unknown_config_key_is_refused(make: Callable[..., Any]) -> None:
    with pytest.raises(TypeError):
        make(hosts=["redis://localhost"])


async def test_send_receive_in_order(layer: Any) -> None:
    for i in range(5):
        await layer.send("test.channel", {"type": "m", "i": i})
    assert [(await layer.receive("test.channel"))["i"] for _ in range(5)] == list(range(5))


async def test_received_message_is_a_copy_of_what_was_sent(layer: Any) -> None:
    sent = {"type": "m", "nested": {"list": [1, 2]}, "text": "hi"}
    await layer.send("test.channel", sent)
    sent["text"] = "changed"
    sent["nested"]["list"].append(3)
    received = await layer.receive("test.channel")
    assert received == {"type": "m", "nested": {"list": [1, 2]}, "text": "hi"}
    assert received is not sent


async def test_flat_message_changed_by_sender_after_send(layer: Any) -> None:
    sent = {"type": "m", "text": "hi"}
    await layer.send("test.channel", sent)
    sent["text"] = "changed"
    assert await layer.receive("test.channel") == {"type": "m", "text": "hi"}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda layer: layer.send("bad channel", {"type": "m"}), TypeError),
        (lambda layer: layer.send("x" * 200, {"type": "m"}), TypeError),
        (lambda layer: layer.send("test.channel", ["not", "a", "dict"]), AssertionError),
        (lambda layer: layer.send("test.channel", {"__asgi_channel__": "x"}), AssertionError),
        (lambda layer: layer.receive("bad channel"), TypeError),
        (lambda layer: layer.group_add("bad group!", "test.channel"), TypeError),
        (lambda layer: layer.group_add("g", "bad channel"), TypeError),
        (lambda layer: layer.group_discard("g", "bad channel"), TypeError),
        (lambda layer: layer.group_discard("bad group!", "test.channel"), TypeError),
        (lambda layer: layer.group_send("bad group!", {"type": "m"}), TypeError),
        (lambda layer: layer.group_send("g", "not a dict"), AssertionError),
    ],
)
async def test_invalid_input(layer: Any, call: Callable[[Any], Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        await call(layer)


async def test_asgi_channel_key_in_group_send_is_refused(layer: Any) -> None:
    await layer.group_add("g", "test.a")
    with pytest.raises(AssertionError):
        await layer.group_send("g", {"type": "m", "__asgi_channel__": "x"})


async def test_capacity_raises_channel_full(make: Callable[..., Any]) -> None:
    layer = make(capacity=3)
    for i in range(3):
        await layer.send("test.channel", {"type": "m", "i": i})
    with pytest.raises(ChannelFull):
        await layer.send("test.channel", {"type": "m", "i": 3})
    await layer.send("other.channel", {"type": "m"})  # capacity is per channel
    assert (await layer.receive("test.channel"))["i"] == 0
    await layer.send("test.channel", {"type": "m", "i": 3})  # room again
    assert [(await layer.receive("test.channel"))["i"] for _ in range(3)] == [1, 2, 3]


async def test_zero_capacity_is_unbounded(make: Callable[..., Any]) -> None:
    layer = make(capacity=0)
    for i in range(300):
        await layer.send("test.channel", {"type": "m", "i": i})
    assert (await layer.receive("test.channel"))["i"] == 0


async def test_channel_capacity_patterns(make: Callable[..., Any]) -> None:
    # Precompiled (pattern, capacity) pairs: the form Channels' in-memory layer accepts (first match wins).
    layer = make(capacity=5, channel_capacity=[(re.compile(r"small\..*"), 1), (re.compile(r"s.*"), 2)])
    await layer.send("small.one", {"type": "m"})
    with pytest.raises(ChannelFull):
        await layer.send("small.one", {"type": "m"})
    await layer.send("second", {"type": "m"})
    await layer.send("second", {"type": "m"})
    with pytest.raises(ChannelFull):
        await layer.send("second", {"type": "m"})
    for _ in range(5):
        await layer.send("other", {"type": "m"})
    with pytest.raises(ChannelFull):
        await layer.send("other", {"type": "m"})


async def test_new_channel_names(layer: Any) -> None:
    names = {await layer.new_channel() for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"specific\.\.inmemory![A-Za-z]{12}", name)
        layer.require_valid_channel_name(name)
    assert re.fullmatch(r"worker\.\.inmemory![A-Za-z]{12}", await layer.new_channel("worker."))
    name = await layer.new_channel()
    await layer.send(name, {"type": "m"})
    assert await layer.receive(name) == {"type": "m"}


async def test_receive_waits_for_a_later_send(layer: Any) -> None:
    waiting = asyncio.ensure_future(layer.receive("test.channel"))
    await asyncio.sleep(0)  # wait-ok: one turn of the event loop, so the waiting receive gets to run
    assert not waiting.done()
    await layer.send("test.channel", {"type": "m"})
    assert await asyncio.wait_for(waiting, 1) == {"type": "m"}


async def test_several_receivers_each_get_one_message(layer: Any) -> None:
    receivers = [asyncio.ensure_future(layer.receive("test.channel")) for _ in range(3)]
    await asyncio.sleep(0)  # wait-ok: one turn of the event loop, so the waiting receive gets to run
    for i in range(3):
        await layer.send("test.channel", {"type": "m", "i": i})
    got = await asyncio.wait_for(asyncio.gather(*receivers), 1)
    assert sorted(m["i"] for m in got) == [0, 1, 2]


async def test_cancelled_receive_loses_nothing(layer: Any) -> None:
    waiting = asyncio.ensure_future(layer.receive("test.channel"))
    await asyncio.sleep(0)  # wait-ok: one turn of the event loop, so the waiting receive gets to run
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await layer.send("test.channel", {"type": "m"})
    assert await asyncio.wait_for(layer.receive("test.channel"), 1) == {"type": "m"}


async def test_group_send_reaches_every_member(layer: Any) -> None:
    await layer.group_add("room", "test.a")
    await layer.group_add("room", "test.b")
    await layer.group_add("other", "test.c")
    await layer.group_send("room", {"type": "m", "text": "hi"})
    assert await layer.receive("test.a") == {"type": "m", "text": "hi"}
    assert await layer.receive("test.b") == {"type": "m", "text": "hi"}
    assert await nothing_arrives(layer, "test.c")


async def test_group_add_twice_delivers_once(layer: Any) -> None:
    await layer.group_add("room", "test.a")
    await layer.group_add("room", "test.a")
    await layer.group_send("room", {"type": "m"})
    assert await layer.receive("test.a") == {"type": "m"}
    assert await nothing_arrives(layer, "test.a")


async def test_group_discard(layer: Any) -> None:
    await layer.group_add("room", "test.a")
    await layer.group_add("room", "test.b")
    await layer.group_discard("room", "test.a")
    await layer.group_discard("room", "test.never")  # not a member: no error
    await layer.group_discard("nosuchgroup", "test.a")
    await layer.group_send("room", {"type": "m"})
    assert await nothing_arrives(layer, "test.a")
    assert await layer.receive("test.b") == {"type": "m"}
    await layer.group_discard("room", "test.b")
    await layer.group_send("room", {"type": "m"})  # empty group: nothing, no error
    assert await nothing_arrives(layer, "test.b")


async def test_group_send_to_unknown_group(layer: Any) -> None:
    await layer.group_send("nobody", {"type": "m"})


async def test_group_send_skips_a_full_member(make: Callable[..., Any]) -> None:
    layer = make(capacity=1)
    await layer.group_add("room", "test.full")
    await layer.group_add("room", "test.ok")
    await layer.send("test.full", {"type": "first"})
    await layer.group_send("room", {"type": "broadcast"})  # ChannelFull for one member is swallowed
    assert await layer.receive("test.ok") == {"type": "broadcast"}
    assert await layer.receive("test.full") == {"type": "first"}
    assert await nothing_arrives(layer, "test.full")
    await layer.group_send("room", {"type": "again"})  # still a member
    assert await layer.receive("test.full") == {"type": "again"}


async def test_each_member_gets_its_own_copy(layer: Any) -> None:
    members = ["test.a", "test.b", "test.c"]
    for name in members:
        await layer.group_add("room", name)
    sent = {"type": "m", "text": "hi", "nested": {"list": [1]}}
    await layer.group_send("room", sent)
    sent["text"] = "sender changed it"
    sent["nested"]["list"].append("sender")
    first = await layer.receive("test.a")
    first["text"] = "consumer changed it"
    first["nested"]["list"].append("consumer")
    first.pop("type")
    for name in members[1:]:
        assert await layer.receive(name) == {"type": "m", "text": "hi", "nested": {"list": [1]}}


async def test_each_member_gets_its_own_copy_of_a_flat_message(layer: Any) -> None:
    for name in ("test.a", "test.b"):
        await layer.group_add("room", name)
    await layer.group_send("room", {"type": "m", "text": "hi", "n": 1, "pair": ("x", 2)})
    first = await layer.receive("test.a")
    first["text"] = "changed"
    del first["n"]
    assert await layer.receive("test.b") == {"type": "m", "text": "hi", "n": 1, "pair": ("x", 2)}


async def test_flush(layer: Any) -> None:
    await layer.send("test.a", {"type": "m"})
    await layer.group_add("room", "test.b")
    await layer.flush()
    assert await nothing_arrives(layer, "test.a")
    await layer.group_send("room", {"type": "m"})
    assert await nothing_arrives(layer, "test.b")
    await layer.send("test.a", {"type": "after"})  # usable after a flush
    assert await layer.receive("test.a") == {"type": "after"}


# --- expiry, on a fake clock -------------------------------------------------------------------------------


async def test_expired_message_is_not_received(make: Callable[..., Any], clock: FakeClock) -> None:
    layer = make(expiry=10)
    await layer.send("test.channel", {"type": "old"})
    clock.advance(11)
    await layer.send("test.channel", {"type": "new"})
    assert await layer.receive("test.channel") == {"type": "new"}
    assert await nothing_arrives(layer, "test.channel")


async def test_unexpired_message_is_received(make: Callable[..., Any], clock: FakeClock) -> None:
    layer = make(expiry=10)
    await layer.send("test.channel", {"type": "m"})
    clock.advance(9)
    assert await layer.receive("test.channel") == {"type": "m"}


async def test_expired_message_removes_its_channel_from_every_group(
    make: Callable[..., Any], clock: FakeClock
) -> None:
    layer = make(expiry=10)
    for group in ("room", "lobby"):
        await layer.group_add(group, "test.dead")
        await layer.group_add(group, "test.alive")
    await layer.send("test.dead", {"type": "unread"})  # a consumer that stopped reading
    clock.advance(11)
    await layer.group_send("room", {"type": "m1"})
    await layer.group_send("lobby", {"type": "m2"})
    assert await layer.receive("test.alive") == {"type": "m1"}
    assert await layer.receive("test.alive") == {"type": "m2"}
    assert await nothing_arrives(layer, "test.dead")
    await layer.group_send("room", {"type": "m3"})  # not a member any more, nothing queued
    assert await nothing_arrives(layer, "test.dead")


async def test_expiry_found_by_a_receive_elsewhere_then_group_send(
    make: Callable[..., Any], clock: FakeClock
) -> None:
    layer = make(expiry=10)
    await layer.group_add("room", "test.dead")
    await layer.send("test.dead", {"type": "unread"})
    clock.advance(11)
    await layer.send("test.other", {"type": "x"})
    assert await layer.receive("test.other") == {"type": "x"}
    await layer.group_send("room", {"type": "m"})
    assert await nothing_arrives(layer, "test.dead")


async def test_group_membership_expires(make: Callable[..., Any], clock: FakeClock) -> None:
    layer = make(group_expiry=100)
    await layer.group_add("room", "test.old")
    clock.advance(50)
    await layer.group_add("room", "test.young")
    clock.advance(52)  # old joined 102 s ago, young 52 s ago
    await layer.group_send("room", {"type": "m"})
    assert await nothing_arrives(layer, "test.old")
    assert await layer.receive("test.young") == {"type": "m"}


async def test_group_membership_refreshed_by_group_add(make: Callable[..., Any], clock: FakeClock) -> None:
    layer = make(group_expiry=100)
    await layer.group_add("room", "test.a")
    clock.advance(90)
    await layer.group_add("room", "test.a")
    clock.advance(90)
    await layer.group_send("room", {"type": "m"})
    assert await layer.receive("test.a") == {"type": "m"}


async def test_group_membership_within_expiry(make: Callable[..., Any], clock: FakeClock) -> None:
    layer = make(group_expiry=100)
    await layer.group_add("room", "test.a")
    clock.advance(99)
    await layer.group_send("room", {"type": "m"})
    assert await layer.receive("test.a") == {"type": "m"}


# --- O(1) per message: counted, not timed --------------------------------------------------------------------

ONLY_TANDEM = pytest.mark.parametrize("make", [TandemInMemoryChannelLayer], ids=["tandem"])


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            InMemoryChannelLayer,
            id="channels",
            marks=pytest.mark.xfail(strict=True, reason="sweeps every channel on each receive: O(n^2)"),
        ),
        pytest.param(TandemInMemoryChannelLayer, id="tandem"),
    ],
)
async def test_broadcast_work_is_linear(make: Callable[..., Any], clock: FakeClock) -> None:
    """One group_send to n members and the n receives read the clock O(n) times. Channels' layer reads it
    once per queued channel on every receive: n²/2."""
    members = 400
    layer = make()
    names = [f"test.member{i}" for i in range(members)]
    for name in names:
        await layer.group_add("room", name)
    clock.reads = 0
    await layer.group_send("room", {"type": "m", "text": "hi"})
    for name in names:
        await layer.receive(name)
    assert clock.reads <= 4 * members


@ONLY_TANDEM
async def test_full_sweeps_stay_rare(make: Callable[..., Any]) -> None:
    layer = make()
    members = 2000
    names = [f"test.member{i}" for i in range(members)]
    for name in names:
        await layer.group_add("room", name)
    for _ in range(5):
        await layer.group_send("room", {"type": "m"})
        for name in names:
            await layer.receive(name)
    # 22,000 operations on 2,000 channels and memberships: a sweep at most every ~8,000 (MIN_SWEEP_INTERVAL
    # or twice the size), never one per operation.
    assert 1 <= layer.sweeps <= 22_000 // (2 * members) + 1


@ONLY_TANDEM
async def test_sweep_frees_abandoned_channels(make: Callable[..., Any], clock: FakeClock) -> None:
    """Messages nobody will read, on channels in no group, are dropped by the amortised sweep."""
    layer = make(expiry=10)
    for i in range(100):
        await layer.send(f"test.abandoned{i}", {"type": "m"})
    clock.advance(11)
    for _ in range(MIN_SWEEP_INTERVAL):
        await layer.send("test.busy", {"type": "m"})
        await layer.receive("test.busy")
    assert layer.sweeps >= 1
    assert not any(name.startswith("test.abandoned") for name in layer.channels)


@ONLY_TANDEM
async def test_flush_keeps_waiting_receivers(make: Callable[..., Any]) -> None:
    """Channels' waiting receivers stay on the discarded queues after flush() and never wake."""
    layer = make()
    waiting = asyncio.ensure_future(layer.receive("test.channel"))
    await asyncio.sleep(0)  # wait-ok: one turn of the event loop, so the waiting receive gets to run
    await layer.flush()
    await layer.send("test.channel", {"type": "after"})
    assert await asyncio.wait_for(waiting, 1) == {"type": "after"}


@ONLY_TANDEM
async def test_channel_capacity_as_globs(make: Callable[..., Any]) -> None:
    """The dict-of-globs form (as channels-redis takes it). Channels' in-memory layer forgets to compile it
    and every send raises ValueError."""
    layer = make(capacity=5, channel_capacity={"http.request*": 1, "other": 2})
    await layer.send("http.request.x", {"type": "m"})
    with pytest.raises(ChannelFull):
        await layer.send("http.request.x", {"type": "m"})
    with pytest.raises(ValueError):
        await InMemoryChannelLayer(channel_capacity={"http.request*": 1}).send("x", {"type": "m"})


@ONLY_TANDEM
async def test_group_send_shares_one_snapshot(make: Callable[..., Any]) -> None:
    """One snapshot per group_send: a flat message is copied shallowly per receiver (same value objects, as
    deepcopy would give), a nested one deeply (no nested object shared between receivers)."""
    layer = make()
    for name in ("test.a", "test.b"):
        await layer.group_add("room", name)
    text = "x" * 1000
    await layer.group_send("room", {"type": "m", "text": text})
    a, b = await layer.receive("test.a"), await layer.receive("test.b")
    assert a is not b and a["text"] is text and b["text"] is text
    await layer.group_send("room", {"type": "m", "nested": {"k": [1]}})
    a, b = await layer.receive("test.a"), await layer.receive("test.b")
    assert a["nested"] is not b["nested"] and a["nested"]["k"] is not b["nested"]["k"]


class StrSub(str):
    pass


@pytest.mark.parametrize(
    ("message", "flat"),
    [
        ({"type": "m", "text": "hi", "n": 1, "f": 1.5, "b": True, "none": None, "raw": b"x"}, True),
        ({"type": "m", "t": (1, ("a", b"b"))}, True),
        ({}, True),
        ({"type": "m", "list": [1]}, False),
        ({"type": "m", "nested": {}}, False),
        ({"type": "m", "t": ([1],)}, False),
        ({"type": "m", "s": {1}}, False),
        ({"type": "m", "fs": frozenset({1})}, False),  # deepcopy builds a new frozenset
        ({"type": "m", "sub": StrSub("x")}, False),
        ({"type": "m", 1: "int key"}, False),
        ({"type": "m", "ba": bytearray(b"x")}, False),
    ],
)
def test_is_flat(message: dict[str, Any], flat: bool) -> None:
    assert is_flat(message) is flat


@ONLY_TANDEM
async def test_receive_makes_no_task(make: Callable[..., Any]) -> None:
    """Channels' consumer loop wraps each receive in ensure_future: a future is taken as it is, where a
    coroutine became a Task per message per consumer. A message sent while a receive waits is handed to it."""
    layer = make()
    waiting = asyncio.ensure_future(layer.receive("test.channel"))
    assert not isinstance(waiting, asyncio.Task)
    await layer.group_add("room", "test.channel")
    await layer.group_send("room", {"type": "m", "text": "hi"})
    assert waiting.done() and waiting.result() == {"type": "m", "text": "hi"}
    assert not layer.channels["test.channel"].messages  # handed over, not queued
    await layer.send("test.channel", {"type": "queued"})
    ready = asyncio.ensure_future(layer.receive("test.channel"))
    assert not isinstance(ready, asyncio.Task) and ready.done() and ready.result() == {"type": "queued"}


@ONLY_TANDEM
def test_receive_outside_a_running_loop(make: Callable[..., Any]) -> None:
    """asyncio.run() and async_to_sync take it as they take Channels' coroutine function."""
    import warnings

    from asgiref.sync import async_to_sync, iscoroutinefunction

    layer = make()
    assert iscoroutinefunction(layer.receive)

    async def send_then_receive() -> Any:
        await layer.send("test.channel", {"type": "m"})
        return await layer.receive("test.channel")

    assert asyncio.run(send_then_receive()) == {"type": "m"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async_to_sync(layer.send)("test.channel", {"type": "again"})
        assert async_to_sync(layer.receive)("test.channel") == {"type": "again"}


@ONLY_TANDEM
async def test_sweep_frees_channels_of_cancelled_receivers(make: Callable[..., Any]) -> None:
    """A consumer that ends cancels its waiting receive: its channel goes at the next sweep."""
    layer = make()
    waiting = [asyncio.ensure_future(layer.receive(f"test.gone{i}")) for i in range(100)]
    for future in waiting:
        future.cancel()
    for _ in range(MIN_SWEEP_INTERVAL):
        await layer.send("test.busy", {"type": "m"})
        await layer.receive("test.busy")
    assert layer.sweeps >= 1
    assert not any(name.startswith("test.gone") for name in layer.channels)
    await layer.send("test.gone0", {"type": "later"})  # a later receive on the name still works
    assert await layer.receive("test.gone0") == {"type": "later"}
