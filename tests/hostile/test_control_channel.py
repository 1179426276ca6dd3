"""Issue 12 items 3 and 5: another local user can neither reach Daphne's socket nor use the control
socket, and a forged registry entry is never sent a command. Real `tandem serve` runs, loopback only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import TandemRunner, example_env
from tests.hostile.neighbours import LocalUser, connect_as, control_as, decoy

SPLIT = ("--mode", "split")


def private_env(project: Path, tmp_path: Path) -> dict[str, str]:
    """The example's environment with a registry of this test's own (XDG_CACHE_HOME), so entries of other
    runs on the machine play no part."""
    env = {k: v for k, v in example_env(project).items() if k != "XDG_RUNTIME_DIR"}
    return {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def runtime_dir_of(run_output: str) -> Path:
    for line in run_output.splitlines():
        if "runtime dir " in line:
            return Path(line.rsplit("runtime dir ", 1)[1].strip())
    raise AssertionError(f"no runtime dir line in:\n{run_output}")


def test_another_user_cannot_reach_the_app_servers_or_the_control_socket(
    example_project: Path, tmp_path: Path, tandem: TandemRunner, second_user: LocalUser
) -> None:
    run = tandem.serve(example_project, *SPLIT, env=private_env(example_project, tmp_path))
    runtime = runtime_dir_of(run.output)
    targets = [runtime / "daphne.sock", runtime / "gunicorn.sock", runtime / "control.sock"]
    refused = connect_as(second_user, *targets)
    print(f"figure: {second_user.name} connecting: {refused}")
    assert set(refused.values()) == {"EACCES"}, refused

    # A second line of defence: with the directory and the control socket opened by mistake, the server
    # still asks the kernel who is calling (SO_PEERCRED) and refuses another uid.
    runtime.chmod(runtime.stat().st_mode | 0o001)
    (runtime / "control.sock").chmod(0o666)
    reply = control_as(second_user, runtime / "control.sock", "stop")
    print(f"figure: control socket reply to uid {second_user.uid}: {reply}")
    assert reply.get("ok") is False and f"uid {second_user.uid}" in str(reply.get("message")), reply
    assert httpx.get(run.url + "healthz", timeout=15).status_code == 200
    assert run.proc.poll() is None
    assert "stop requested" not in run.output
    assert run.stop() == 0


@pytest.mark.parametrize("forgery", ["decoy-pid", "real-pid-decoy-socket", "decoy-of-another-user"])
def test_a_forged_registry_entry_is_not_believed_by_stop(
    example_project: Path, tmp_path: Path, tandem: TandemRunner, forgery: str, request: pytest.FixtureRequest
) -> None:
    """An entry naming a process that is not a tandem serve, or a real tandem's pid with someone else's
    socket, or a socket of another user: `tandem stop` names it, sends it nothing, and stops the real one."""
    owner = request.getfixturevalue("second_user") if forgery == "decoy-of-another-user" else None
    env = private_env(example_project, tmp_path)
    run = tandem.serve(example_project, env=env)
    registry = tmp_path / "cache" / "tandem"
    assert registry.is_dir() and (registry.stat().st_mode & 0o077) == 0
    real = json.loads(next(registry.glob("*.json")).read_text())
    with decoy(tmp_path / "decoy", owner) as (proc, received):
        pid = run.proc.pid if forgery == "real-pid-decoy-socket" else proc.pid
        forged = {**real, "pid": pid, "runtime_dir": str(tmp_path / "decoy")}
        name = f"{proc.pid}.json"  # sorts apart from the real entry's file either way
        (registry / name).write_text(json.dumps(forged))
        (registry / name).chmod(0o600)

        code, output = tandem.run("stop", "--pid", str(pid), cwd=example_project, env=env)
        if forgery != "real-pid-decoy-socket":
            assert code == 6, output  # no running tandem with that pid
        print(f"figure: {forgery}: {output.strip().splitlines()[0]}")
        assert "ignored the registry entry" in output, output
        assert received.read_text() == "", "the forged entry's socket was sent a command"
        assert not (registry / name).exists()

        if forgery == "real-pid-decoy-socket":  # the pid is the real tandem's: that one was the target
            assert code == 0 and "stopping" in output, output
        else:
            assert run.proc.poll() is None and httpx.get(run.url + "healthz", timeout=15).status_code == 200
            code, output = tandem.run("stop", cwd=example_project, env=env)
            assert code == 0 and "stopping" in output, output
        assert received.read_text() == ""
    assert run.wait_exit(timeout=60) == 0
    assert run.alive_descendants() == []


def test_the_registry_is_per_user_and_private(
    example_project: Path, tmp_path: Path, tandem: TandemRunner
) -> None:
    env = private_env(example_project, tmp_path)
    run = tandem.serve(example_project, env=env)
    registry = tmp_path / "cache" / "tandem"
    entries = list(registry.glob("*.json"))
    assert [p.name for p in entries] == [f"{run.proc.pid}.json"]
    assert registry.stat().st_uid == os.geteuid() and (registry.stat().st_mode & 0o777) == 0o700
    assert (entries[0].stat().st_mode & 0o777) == 0o600
    assert not list(Path("/tmp").glob(f"tandem-{os.geteuid()}-instances/{run.proc.pid}.json"))
    assert run.stop() == 0
    assert list(registry.glob("*.json")) == []


def test_a_stale_registry_entry_is_detected_and_sent_nothing(
    example_project: Path, tmp_path: Path, tandem: TandemRunner
) -> None:
    """What a tandem killed with -9 leaves behind: its entry, naming a pid that has exited (and may be
    reused) and a control socket path. stop and status see that no tandem is there, remove the entry and
    say so by their answer (exit 6, no running instance), without connecting to anything."""
    env = private_env(example_project, tmp_path)
    run = tandem.serve(example_project, env=env)
    registry = tmp_path / "cache" / "tandem"
    real = json.loads(next(registry.glob("*.json")).read_text())
    gone = subprocess.Popen(["true"])  # a pid that no longer runs
    gone.wait(timeout=10)
    stale = registry / f"{gone.pid}.json"
    stale.write_text(json.dumps({**real, "pid": gone.pid}))  # the live tandem's own socket path
    stale.chmod(0o600)

    code, output = tandem.run("stop", "--pid", str(gone.pid), cwd=example_project, env=env)
    print(f"figure: stop --pid {gone.pid} (stale): exit {code}: {output.strip().splitlines()[-1]}")
    assert code == 6 and f"no running tandem serve found for pid {gone.pid}" in output, output
    assert not stale.exists()
    assert run.proc.poll() is None and "stop requested" not in run.output  # its socket was not asked
    assert httpx.get(run.url + "healthz", timeout=15).status_code == 200
    assert run.stop() == 0
