"""Restart, flapping and boot-failure policy, by replaying event histories through the supervisor's
handlers with an injected clock and process start (no real process: the policy is under test here; the
integration tests drive real ones)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tandem.errors import BootError, RuntimeFailure
from tandem.events import Event, Kind
from tandem.plan import Address, Plan, Probe, ProcessSpec
from tandem.policy import RestartPolicy
from tandem.supervisor import Child, Supervisor

POLICY = RestartPolicy(initial_delay=0.5, max_delay=10.0, window=60.0, flap_limit=5)


@pytest.mark.parametrize(
    ("exits", "now", "delay", "flapping"),
    [
        ([100.0], 100.0, 0.5, False),
        ([100.0, 101.0], 101.0, 1.0, False),
        ([100.0, 101.0, 102.0], 102.0, 2.0, False),
        ([100.0, 101.0, 102.0, 103.0], 103.0, 4.0, False),
        ([100.0, 101.0, 102.0, 103.0, 104.0], 104.0, 8.0, True),
        ([0.0, 10.0, 20.0, 30.0, 100.0], 100.0, 0.5, False),  # old exits are forgiven after the window
        ([95.0, 96.0, 97.0, 98.0, 99.0, 100.0], 100.0, 10.0, True),  # delay capped
    ],
)
def test_backoff_and_flapping_from_exit_history(
    exits: list[float], now: float, delay: float, flapping: bool
) -> None:
    assert POLICY.delay(exits, now) == delay
    assert POLICY.is_flapping(exits, now) is flapping


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeProcess:
    """Stands in for the OS process only: the supervisor's decisions are what these tests check."""

    pid: int
    signals: list[int] = field(default_factory=list)

    def poll(self) -> int | None:
        return None

    def wait(self, timeout: float | None = None) -> int:
        return 0


class ReplaySupervisor(Supervisor):
    """The real supervisor, with process start replaced by a recorder."""

    def __init__(self, plan: Plan, clock: Clock) -> None:
        super().__init__(plan, clock=clock, policy=POLICY)
        self.starts: list[str] = []
        self.next_pid = 100

    def _start(self, child: Child) -> None:
        child.generation += 1
        self.next_pid += 1
        child.proc = FakeProcess(self.next_pid)  # type: ignore[assignment]
        child.state = "starting"
        child.started_at = self.clock()
        self.starts.append(child.name)

    def _kill_group(self, child: Child) -> None:
        assert isinstance(child.proc, FakeProcess)

    def _signal(self, child: Child, signum: int) -> None:
        assert isinstance(child.proc, FakeProcess)
        child.proc.signals.append(signum)


def spec(name: str, role: str) -> ProcessSpec:
    probe = Probe(Address(path=f"/nonexistent/{name}.sock"), "/", "localhost")
    return ProcessSpec(name=name, role=role, argv=("true",), env={}, probe=probe)


def replay(kinds: list[tuple[float, Kind, str]], clock: Clock, supervisor: ReplaySupervisor) -> None:
    for at, kind, name in kinds:
        clock.now = at
        child = next(c for c in supervisor.children if c.name == name)
        code = -signal.SIGKILL if kind is Kind.EXITED else None
        supervisor._dispatch(Event(kind=kind, name=name, pid=child.pid, code=code, at=at))
        supervisor._tick()


def prepared(supervisor: ReplaySupervisor) -> None:
    """Dispatches what the reload's preparation (a thread) posts, up to its outcome: a bounded wait."""
    while True:
        event = supervisor.events.get(timeout=10)
        supervisor._dispatch(event)
        if event.kind is Kind.RELOAD_PREPARED:
            return


@pytest.fixture
def setup() -> tuple[Clock, ReplaySupervisor]:
    clock = Clock()
    plan = Plan(
        mode="unified",
        public=Address(host="127.0.0.1", port=8000),
        runtime_dir=Path("/nonexistent"),
        processes=(spec("daphne.1", "daphne"), spec("daphne.2", "daphne")),
    )
    supervisor = ReplaySupervisor(plan, clock)
    for child in supervisor.children:
        supervisor._start(child)
    return clock, supervisor


def test_exit_before_ready_halts_with_boot_error_and_no_respawn(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    clock, supervisor = setup
    child = supervisor.children[0]
    child.last_lines.append("ImportError: boom")
    replay([(1000.5, Kind.EXITED, "daphne.1")], clock, supervisor)
    assert isinstance(supervisor.failure, BootError)
    assert supervisor.failure.output == ("ImportError: boom",)
    assert supervisor.stopping
    clock.now = 2000.0
    supervisor._tick()
    assert supervisor.starts == ["daphne.1", "daphne.2"]  # never started again


def test_not_ready_at_start_halts(setup: tuple[Clock, ReplaySupervisor]) -> None:
    clock, supervisor = setup
    replay([(1060.0, Kind.NOT_READY, "daphne.2")], clock, supervisor)
    assert isinstance(supervisor.failure, BootError)
    assert "did not answer" in str(supervisor.failure)


def test_exit_after_boot_restarts_with_doubling_backoff_then_flapping(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    clock, supervisor = setup
    replay([(1001.0, Kind.READY, "daphne.1"), (1001.0, Kind.READY, "daphne.2")], clock, supervisor)
    assert supervisor.booted
    child = supervisor.children[0]
    delays = []
    for i in range(4):
        at = 1010.0 + i * 3
        replay([(at, Kind.EXITED, "daphne.1")], clock, supervisor)
        assert child.state == "backoff"
        assert child.restart_at is not None
        delays.append(child.restart_at - at)
        clock.now = child.restart_at
        supervisor._tick()  # the restart happens on the tick after the delay
        assert child.state == "starting"
        replay([(clock.now + 0.5, Kind.READY, "daphne.1")], clock, supervisor)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert supervisor.failure is None
    replay([(1025.0, Kind.EXITED, "daphne.1")], clock, supervisor)
    assert isinstance(supervisor.failure, RuntimeFailure)
    assert "5 times in 60 s" in str(supervisor.failure)


def test_unresponsive_process_is_killed_then_restarted(setup: tuple[Clock, ReplaySupervisor]) -> None:
    clock, supervisor = setup
    replay([(1001.0, Kind.READY, "daphne.1"), (1001.0, Kind.READY, "daphne.2")], clock, supervisor)
    killed: list[str] = []
    supervisor._kill_group = lambda child: killed.append(child.name)  # type: ignore[method-assign]
    replay([(1010.0, Kind.UNRESPONSIVE, "daphne.2")], clock, supervisor)
    assert killed == ["daphne.2"]
    replay([(1010.1, Kind.EXITED, "daphne.2")], clock, supervisor)
    assert supervisor.children[1].state == "backoff"
    assert supervisor.failure is None


def test_exit_of_a_retiring_process_during_reload_is_not_a_crash(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    clock, supervisor = setup
    replay([(1001.0, Kind.READY, "daphne.1"), (1001.0, Kind.READY, "daphne.2")], clock, supervisor)
    old = supervisor.children[0]
    supervisor._retire = lambda child: setattr(child, "state", "retiring")  # type: ignore[method-assign]
    assert supervisor.reload()["ok"]
    prepared(supervisor)
    successor = supervisor.children[-1]
    assert successor.replaces is old
    clock.now = 1002.0
    supervisor._dispatch(Event(kind=Kind.READY, name="daphne.1", pid=successor.pid, at=1002.0))
    assert old.state == "retiring"
    supervisor._dispatch(Event(kind=Kind.EXITED, name="daphne.1", pid=old.pid, code=0, at=1003.0))
    assert old not in supervisor.children
    assert old.exits == []  # not counted towards flapping
    assert supervisor.starts[-1] == "daphne.2"  # the next Daphne is replaced only now


# --- a failed reload never makes things worse -----------------------------------------------------------


def ready_pair(clock: Clock, supervisor: ReplaySupervisor) -> list[dict[str, object]]:
    replay([(1001.0, Kind.READY, "daphne.1"), (1001.0, Kind.READY, "daphne.2")], clock, supervisor)
    outcome: list[dict[str, object]] = []
    return outcome


def test_new_code_that_does_not_import_changes_nothing(setup: tuple[Clock, ReplaySupervisor]) -> None:
    clock, supervisor = setup
    outcome = ready_pair(clock, supervisor)

    def broken() -> None:
        raise SyntaxError("invalid syntax")

    supervisor.prepare_reload = broken
    before = [(c.name, c.pid, c.state) for c in supervisor.children]
    assert supervisor.reload(waiter=outcome.append)["ok"]  # started; the outcome comes later
    prepared(supervisor)
    assert outcome == [
        {"ok": False, "message": "reload failed: SyntaxError: invalid syntax; nothing was changed"}
    ]
    assert [(c.name, c.pid, c.state) for c in supervisor.children] == before
    assert all(c.proc.signals == [] for c in supervisor.children)  # type: ignore[union-attr]
    assert supervisor.reloading is None and supervisor.last_reload is not None
    assert supervisor.reload()["ok"]  # the next reload is not blocked by the failed one


@pytest.mark.parametrize("failure", [Kind.EXITED, Kind.NOT_READY])
def test_a_new_daphne_that_never_answers_leaves_the_old_one_serving(
    failure: Kind, setup: tuple[Clock, ReplaySupervisor]
) -> None:
    clock, supervisor = setup
    outcome = ready_pair(clock, supervisor)
    old = supervisor.children[0]
    assert supervisor.reload(waiter=outcome.append)["ok"]
    prepared(supervisor)
    successor = supervisor.children[-1]
    assert successor.replaces is old and successor.state == "starting"
    successor.last_lines.extend(["Traceback (most recent call last):", "RuntimeError: new code broke"])
    clock.now = 1005.0
    supervisor._dispatch(Event(kind=failure, name="daphne.1", pid=successor.pid, code=1, at=1005.0))
    assert successor not in supervisor.children
    assert old.state == "ready" and old.proc.signals == []  # type: ignore[union-attr]  # never retired
    assert len(outcome) == 1 and outcome[0]["ok"] is False
    assert "the new daphne.1" in str(outcome[0]["message"]) and "old one keeps serving" in str(
        outcome[0]["message"]
    )
    assert "RuntimeError: new code broke" in str(outcome[0]["message"])
    assert supervisor.reload_queue == [] and supervisor.reloading is None
    assert supervisor.starts.count("daphne.2") == 1  # the second Daphne was not replaced either
    assert supervisor.failure is None and not supervisor.stopping


def test_an_old_daphne_dying_while_its_successor_starts_does_not_hang_the_reload(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    clock, supervisor = setup
    outcome = ready_pair(clock, supervisor)
    old = supervisor.children[0]
    assert supervisor.reload(waiter=outcome.append)["ok"]
    prepared(supervisor)
    successor = supervisor.children[-1]
    old.proc.poll = lambda: -9  # type: ignore[union-attr, method-assign]  # it is gone
    supervisor._dispatch(Event(kind=Kind.EXITED, name="daphne.1", pid=old.pid, code=-9, at=1002.0))
    assert old.state != "backoff"  # not restarted: the successor takes over
    supervisor._dispatch(Event(kind=Kind.READY, name="daphne.1", pid=successor.pid, at=1003.0))
    assert old not in supervisor.children
    assert supervisor.starts[-1] == "daphne.2"  # the reload went on to the next Daphne


def test_a_retiring_daphne_that_never_drains_is_killed_at_the_deadline(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    clock, supervisor = setup
    ready_pair(clock, supervisor)
    killed: list[str] = []
    supervisor._kill_group = lambda child: killed.append(child.name)  # type: ignore[method-assign]
    assert supervisor.reload()["ok"]
    prepared(supervisor)
    successor = supervisor.children[-1]
    supervisor._dispatch(Event(kind=Kind.READY, name="daphne.1", pid=successor.pid, at=1002.0))
    assert supervisor.children[0].state == "retiring"
    clock.now = 1002.0 + supervisor.stop_timeout + 1
    supervisor._tick()
    assert killed == ["daphne.1"]


def test_stopping_during_a_reload_answers_its_waiters(setup: tuple[Clock, ReplaySupervisor]) -> None:
    clock, supervisor = setup
    outcome = ready_pair(clock, supervisor)
    assert supervisor.reload(waiter=outcome.append)["ok"]
    supervisor.stop()
    assert outcome == [{"ok": False, "message": "reload failed: tandem is stopping"}]


def test_a_signal_at_any_point_of_the_loops_wait_does_not_hang_it(
    setup: tuple[Clock, ReplaySupervisor],
) -> None:
    """Python runs a signal handler in the main thread between any two bytecodes, also inside the loop's own
    ``events.get()``. The handler posts to that queue, so the queue must not hold a lock of its own across
    those points (queue.Queue does: a SIGTERM that came while its mutex was held hung ``tandem serve`` for
    good). Here the handler is run at every call boundary inside ``get()``, as a signal arriving there would."""
    import contextlib
    import queue
    import sys
    import threading

    _, supervisor = setup
    supervisor.emit(Kind.READY, "daphne.1")
    calls = 0

    def as_if_signalled(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call") and calls < 50:
            calls += 1
            supervisor._signal_handler(signal.SIGTERM, None)

    got: list[Event] = []

    def wait_on_the_queue() -> None:
        sys.setprofile(as_if_signalled)
        try:
            got.append(supervisor.events.get(timeout=1))
        finally:
            sys.setprofile(None)

    waiter = threading.Thread(target=wait_on_the_queue, daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "the signal handler blocked on the queue the loop was waiting on"
    assert calls > 0 and got and got[0].kind is Kind.READY
    signalled = []
    with contextlib.suppress(queue.Empty):
        while True:
            signalled.append(supervisor.events.get_nowait())
    assert signalled and all(e.kind is Kind.SIGNAL and e.code == signal.SIGTERM for e in signalled)
