"""Issue 12 item 3: a runtime directory only its owner can touch, and sockets no one else can connect to.

Real `tandem serve` runs on loopback; a refused --runtime-dir must stop tandem before anything is written
or started there (exit 2, one line, no traceback)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import TandemRunner
from tests.hostile.neighbours import LocalUser

SPLIT = ("--mode", "split")


def refused(tandem: TandemRunner, project: Path, runtime_dir: Path) -> str:
    code, output = tandem.run(
        "serve", "--port", "0", "--runtime-dir", str(runtime_dir), cwd=project, timeout=90
    )
    assert code == 2, output
    assert "Traceback" not in output and "Ready:" not in output, output
    assert f"--runtime-dir {runtime_dir}" in output, output
    return output


def test_a_runtime_dir_open_to_others_is_refused(
    example_project: Path, tmp_path: Path, tandem: TandemRunner
) -> None:
    shared = tmp_path / "run-0755"
    shared.mkdir()
    shared.chmod(0o755)  # systemd's RuntimeDirectory default
    output = refused(tandem, example_project, shared)
    assert "has mode 0755" in output and "chmod 700" in output, output
    assert list(shared.iterdir()) == []  # nothing was written there
    print(f"figure: 0755 runtime dir refused: {output.splitlines()[-1]}")


def test_a_symlinked_runtime_dir_is_refused(
    example_project: Path, tmp_path: Path, tandem: TandemRunner
) -> None:
    # The link target is private and ours: the link alone is the problem (whoever owns the directory the
    # link lives in could point it anywhere between our check and our writes).
    target = tmp_path / "private"
    target.mkdir(mode=0o700)
    link = tmp_path / "run-link"
    link.symlink_to(target)
    output = refused(tandem, example_project, link)
    assert "is a symlink" in output, output
    assert list(target.iterdir()) == []


def test_a_runtime_dir_owned_by_another_user_is_refused(
    example_project: Path, tmp_path: Path, tandem: TandemRunner, second_user: LocalUser
) -> None:
    theirs = tmp_path / "run-theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, second_user.uid, second_user.gid)
    # What the attack relied on: a symlink planted where tandem writes nginx.conf (as root).
    victim = tmp_path / "root-only"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    (theirs / "nginx").mkdir()
    (theirs / "nginx" / "nginx.conf").symlink_to(victim)
    output = refused(tandem, example_project, theirs)
    assert f"is owned by {second_user.name}" in output, output
    assert victim.read_text() == "precious\n"


def test_a_private_runtime_dir_given_is_used_and_its_sockets_are_private(
    example_project: Path, tmp_path: Path, tandem: TandemRunner
) -> None:
    """Split mode in a given 0700 directory: every socket 0600, except the two nginx's workers must reach
    when they run as another user (as root), which are 0660 with that user's group."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    run = tandem.serve(example_project, *SPLIT, "--runtime-dir", str(runtime))
    as_root = os.geteuid() == 0
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in runtime.iterdir() if p.is_socket()}
    print(f"figure: socket modes {sorted((name, oct(mode)) for name, mode in modes.items())}")
    upstreams = {"gunicorn.sock", "daphne.sock"}
    assert upstreams <= set(modes) and "control.sock" in modes, modes
    assert any(name.startswith("daphne-1.") for name in modes), modes  # Daphne's own probe socket
    for name, mode in modes.items():
        if as_root and name in upstreams:
            assert mode == 0o660, f"{name} is {mode:04o}, expected 0660"
        else:  # owner only (redis-server's own --unixsocketperm 700 counts: x means nothing on a socket)
            assert mode & 0o077 == 0, f"{name} is {mode:04o}: others may connect"
    directory_mode = stat.S_IMODE(runtime.stat().st_mode)
    if as_root:
        import grp

        group = grp.getgrgid(runtime.stat().st_gid).gr_name
        assert directory_mode == 0o710 and group in ("www-data", "nogroup"), (oct(directory_mode), group)
        for name in upstreams:
            assert grp.getgrgid((runtime / name).stat().st_gid).gr_name == group
    else:
        assert directory_mode == 0o700
    conf = runtime / "nginx" / "nginx.conf"
    assert not conf.is_symlink() and conf.stat().st_uid == os.geteuid()
    assert run.stop() == 0


def test_a_fresh_runtime_dir_is_private(example_project: Path, tandem: TandemRunner) -> None:
    """Unified mode (the default): the directory tandem makes is 0700 and every socket in it (Daphne's
    probe socket, the control socket) is the owner's alone; no nginx worker needs any of them."""
    run = tandem.serve(example_project)
    line = run.wait_for_line(r"runtime dir (\S+)", timeout=5)
    created = Path(line.group(1))
    assert stat.S_IMODE(created.stat().st_mode) == 0o700 and created.stat().st_uid == os.geteuid()
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in created.iterdir() if p.is_socket()}
    print(f"figure: unified socket modes {sorted((name, oct(mode)) for name, mode in modes.items())}")
    assert "control.sock" in modes and any(name.startswith("daphne-") for name in modes), modes
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
    assert run.stop() == 0
    assert not created.exists()  # made by tandem, removed by tandem
