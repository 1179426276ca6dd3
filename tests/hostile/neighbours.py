"""Tools for the hostile-neighbour tests: a second local user (created by the test when running as root,
removed after), code run as that user, and a decoy that pretends to be a tandem control socket."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import stop_process, wait_for

# The system interpreter, readable by any user (the test's venv may sit in a directory only root enters);
# the code run as the other user needs nothing but the standard library.
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@dataclass(frozen=True)
class LocalUser:
    name: str
    uid: int
    gid: int

    def run(self, code: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """``python3 -c CODE ARGS`` as this user, with none of root's groups."""
        return subprocess.run(
            [SYSTEM_PYTHON, "-c", code, *args],
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "HOME": "/"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def second_user() -> Iterator[LocalUser]:
    """A fresh local user with no home and no login; every process it owns is killed and the user
    removed afterwards, even when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second local user (useradd); run the hostile tier as root")
    name = f"thostile{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
        check=True,
        capture_output=True,
        timeout=30,
    )
    entry = pwd.getpwnam(name)
    try:
        yield LocalUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        # Only processes of this throw-away user, by pid.
        for line in subprocess.run(
            ["ps", "-o", "pid=", "-u", str(entry.pw_uid)], capture_output=True, text=True, check=False
        ).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line), signal.SIGKILL)
        subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)


# Tries to connect to each path given; prints {path: "connected" | "<errno name>"} as JSON.
CONNECT = """
import errno, json, socket, sys
result = {}
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        result[path] = "connected"
    except OSError as exc:
        result[path] = errno.errorcode.get(exc.errno, str(exc))
    finally:
        s.close()
print(json.dumps(result))
"""

# Sends one control command and prints the reply line (or the error).
CONTROL = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
    s.sendall(json.dumps({"command": sys.argv[2]}).encode() + b"\\n")
    print(s.makefile("rb").readline().decode() or "{}")
except OSError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def connect_as(user: LocalUser, *paths: Path) -> dict[str, str]:
    result = user.run(CONNECT, *map(str, paths))
    assert result.returncode == 0, result.stderr
    found: dict[str, str] = json.loads(result.stdout)
    return found


def control_as(user: LocalUser, control_socket: Path, command: str) -> dict[str, object]:
    result = user.run(CONTROL, str(control_socket), command)
    assert result.returncode == 0, result.stderr
    reply: dict[str, object] = json.loads(result.stdout)
    return reply


# A decoy "control socket": answers every command with {"ok": true, "message": "stopping"} and records it.
DECOY = """
import json, os, socket, sys
path, log = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o600)
server.listen(4)
for _ in range(50):
    conn, _ = server.accept()
    with conn:
        line = conn.makefile("rb").readline()
        with open(log, "ab") as f:
            f.write(line)
        conn.sendall(json.dumps({"ok": True, "message": "stopping"}).encode() + b"\\n")
"""


@contextlib.contextmanager
def decoy(directory: Path, user: LocalUser | None = None) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A decoy control server listening on ``directory``/control.sock (as ``user`` if given); yields the
    process and the file its received commands are appended to."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "received"
    log.touch()
    sock = directory / "control.sock"
    if user is not None:
        for path in (directory, log):
            os.chown(path, user.uid, user.gid)
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, "-c", DECOY, str(sock), str(log)],
        user=user.uid if user else None,
        group=user.gid if user else None,
        extra_groups=[] if user else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, timeout=10, message="the decoy socket")
        assert proc.poll() is None, "the decoy exited at start"
        yield proc, log
    finally:
        stop_process(proc)
