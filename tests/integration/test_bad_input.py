"""Bad input to the real `tandem serve`: each case exits with its own code, says in one line what is
wrong, where tandem looked and how to fix it, prints no traceback, and leaves no process behind."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TANDEM, Tandem, TandemRunner, clean_env, daphne_pids, example_env
from tests.small_projects import write, write_project

USAGE = 2  # UsageError, ConfigError, ProjectError
PORT_IN_USE = 3
BOOT_FAILED = 4


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float
    run: Tandem

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("tandem: error:")]

    def assert_one_clear_error(self, *fragments: str, child_ran: bool = False) -> str:
        """Exactly one error line, holding every fragment; no traceback from tandem (a child's own output,
        streamed to stdout as it ran, may hold one); nothing left running."""
        assert len(self.error_lines) == 1, f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        line = self.error_lines[0]
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        assert "Traceback" not in self.stderr
        if not child_ran:
            assert "Traceback" not in self.stdout
        assert self.run.alive_descendants() == []
        return line


def run_tandem(
    tandem: TandemRunner, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> Finished:
    """`tandem ARGS` to completion with stdout and stderr apart (files: no pipe can fill up), watching
    the process table meanwhile so every child it started is known and checked afterwards."""
    out, err = cwd.parent / f"out-{time.monotonic_ns()}.txt", cwd.parent / f"err-{time.monotonic_ns()}.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [*TANDEM, *args],
            cwd=cwd,
            env=env if env is not None else example_env(cwd),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    run = Tandem(proc)
    tandem.runs.append(run)  # the fixture stops it and its children if this test fails midway
    started = time.monotonic()
    deadline = started + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        run.remember_descendants()
        time.sleep(0.02)  # wait-ok: bounded polling, fine enough to catch short-lived children
    assert proc.poll() is not None, f"tandem {' '.join(args)} still running after {timeout} s"
    return Finished(proc.returncode, out.read_text(), err.read_text(), time.monotonic() - started, run)


def refused(tandem: TandemRunner, project: Path, *args: str, env: dict[str, str] | None = None) -> Finished:
    """`tandem serve --port 0 ARGS` in ``project`` to completion: it must exit as a usage error."""
    result = run_tandem(tandem, "serve", "--port", "0", *args, cwd=project, env=env)
    assert result.code == USAGE, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_not_a_django_project(tmp_path: Path, tandem: TandemRunner) -> None:
    empty = tmp_path / "not-a-project"
    empty.mkdir()
    result = refused(tandem, empty)
    result.assert_one_clear_error(
        f"not a Django project: no manage.py in {empty.resolve()} (the current directory)",
        "--project DIR",
    )
    assert result.stdout == ""


def test_settings_module_that_does_not_exist(example_project: Path, tandem: TandemRunner) -> None:
    result = refused(tandem, example_project, "--settings", "chatsite.setings")
    result.assert_one_clear_error(
        "settings module 'chatsite.setings' (from --settings) not found in",
        "fix --settings",
        "chatsite.settings",  # what does exist, ready to copy
    )


def test_settings_module_that_raises(example_project: Path, tandem: TandemRunner) -> None:
    write(
        example_project / "chatsite" / "broken_settings.py",
        "from chatsite.settings import *  # noqa\n\nraise RuntimeError('CHAT_SECRET_KEY must be set in production')\n",
    )
    result = refused(tandem, example_project, "--settings", "chatsite.broken_settings")
    result.assert_one_clear_error(
        "settings module 'chatsite.broken_settings' (from --settings) failed to import: "
        "RuntimeError: CHAT_SECRET_KEY must be set in production",
        "(chatsite/broken_settings.py, line 3)",
    )


# --- layouts without manage.py (the served cases are in test_corpus_layouts.py, including a settings
# package shadowed by a nested one, which now works) -----------------------------------------------------


def test_pythonpath_to_a_missing_directory(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_project(tmp_path / "site", manage=None)
    result = refused(
        tandem, project, "--settings", "mysite.settings", "--pythonpath", "../nowhere", env=clean_env()
    )
    result.assert_one_clear_error("--pythonpath ../nowhere does not exist", "as django-admin takes")


def test_settings_without_manage_py_that_do_not_import(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_project(tmp_path / "site", manage=None, settings="import nosuchmodule_for_tandem_tests\n")
    env = clean_env(DJANGO_SETTINGS_MODULE="mysite.settings")
    result = refused(tandem, project, env=env)
    result.assert_one_clear_error(
        "settings module 'mysite.settings' (from DJANGO_SETTINGS_MODULE) failed to import: "
        "ModuleNotFoundError: No module named 'nosuchmodule_for_tandem_tests'",
        "(mysite/settings.py, line 1)",
    )


def test_settings_without_manage_py_that_do_not_exist(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_project(tmp_path / "site", manage=None)
    result = refused(tandem, project, "--settings", "mysite.nosettings", env=clean_env())
    result.assert_one_clear_error(
        f"settings module 'mysite.nosettings' (from --settings) not found in {project.resolve()}",
        "settings modules under",
        "mysite.settings",
    )


@pytest.mark.usefixtures("nginx_bin")
def test_nginx_option_naming_a_missing_file(example_project: Path, tandem: TandemRunner) -> None:
    result = refused(tandem, example_project, "--mode", "split", "--nginx", "/x/nginx")
    result.assert_one_clear_error("--nginx /x/nginx does not exist: split mode runs nginx in front")
    assert "on PATH" not in result.stderr


@pytest.mark.parametrize("version", ["v2.6.2 h1:debian", "2.6.2"])
def test_a_caddy_too_old_names_what_it_lacks(
    version: str, example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """Debian 12's caddy is 2.6.2: serve refuses it before anything starts, naming the directives tandem's
    Caddyfile needs that it lacks, and where a new enough Caddy comes from. (The stand-in answers
    `caddy version` as that release does; the check under test is tandem's.)"""
    old = tmp_path / "bin" / "caddy"
    old.parent.mkdir()
    old.write_text(f"#!/bin/sh\necho '{version}'\n")
    old.chmod(0o755)
    result = refused(tandem, example_project, "--mode", "split", "--proxy", "caddy", "--caddy", str(old))
    line = result.assert_one_clear_error("Caddy 2.6.2", "stream_close_delay", "bind fd/N")
    assert "2.9 or later" in line, line
    assert "django-tandem[caddy]" in result.stderr


def test_asgi_pointing_at_a_missing_attribute(example_project: Path, tandem: TandemRunner) -> None:
    result = refused(tandem, example_project, "--asgi", "chatsite.asgi:app")
    result.assert_one_clear_error(
        "ASGI application 'chatsite.asgi:app' (from --asgi): chatsite/asgi.py defines no 'app'",
        "fix --asgi",
    )
    assert "started" not in result.stdout  # refused before any process started


def test_asgi_pointing_at_a_missing_module(example_project: Path, tandem: TandemRunner) -> None:
    result = refused(tandem, example_project, "--asgi", "chatsite.routing:application")
    result.assert_one_clear_error("ASGI module 'chatsite.routing' (from --asgi) not found in", "fix --asgi")


def test_port_in_use(example_project: Path, tandem: TandemRunner, busy_port: int) -> None:
    result = run_tandem(tandem, "serve", "--port", str(busy_port), cwd=example_project)
    assert result.code == PORT_IN_USE
    result.assert_one_clear_error(
        f"port {busy_port} on 127.0.0.1 is already in use",
        f"ss -ltnp 'sport = :{busy_port}'",
        "another --port",
    )
    assert "started" not in result.stdout


def test_port_bound_but_not_listening(example_project: Path, tandem: TandemRunner) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        result = run_tandem(tandem, "serve", "--port", str(port), cwd=example_project)
    assert result.code == PORT_IN_USE
    result.assert_one_clear_error(f"port {port} on 127.0.0.1 is already in use")


RAISING_ASGI = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
print("loading the ASGI application", flush=True)
from mysite.consumers import ChatConsumer  # noqa: E402 - consumers.py has no such class

application = get_asgi_application()
"""


def test_asgi_module_that_raises_at_import(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_project(
        tmp_path / "broken", asgi=RAISING_ASGI, consumers="class EchoConsumer:\n    pass\n"
    )
    # --skip-checks: tandem check (E004) refuses this project before anything starts; this is the child's report.
    result = run_tandem(tandem, "serve", "--port", "0", "--skip-checks", cwd=project, timeout=30)
    assert result.code == BOOT_FAILED, result.stdout + result.stderr
    assert result.seconds < 20, f"took {result.seconds:.1f} s to give up"
    # The child ran once: no respawn loop for a process that never became ready.
    assert result.stdout.count("started daphne") == 1, result.stdout
    assert len(result.run.remember_descendants()) >= 1  # it did start, and...
    line = result.assert_one_clear_error(
        "daphne exited with code 1 while starting: "
        "ImportError: cannot import name 'ChatConsumer' from 'mysite.consumers'",
        "(mysite/asgi.py, line 7)",
        child_ran=True,
    )
    assert line.endswith("fix it and run again")
    # The child's own last lines are shown, cut down to the user's code: no Daphne or importlib frames.
    assert "loading the ASGI application" in result.stdout
    assert 'File "' in result.stderr and "mysite/asgi.py" in result.stderr
    assert "site-packages" not in result.stderr
    assert "importlib" not in result.stderr


def test_procs_zero(example_project: Path, tandem: TandemRunner) -> None:
    result = refused(tandem, example_project, "--procs", "0")
    result.assert_one_clear_error("--procs must be at least 1 (or 'auto'), not 0")


def test_procs_not_a_number(example_project: Path, tandem: TandemRunner) -> None:
    env = example_env(example_project) | {"TANDEM_PROCS": "four"}
    result = refused(tandem, example_project, env=env)
    result.assert_one_clear_error("TANDEM_PROCS: invalid value 'four': expected a whole number or 'auto'")


def test_several_processes_with_the_in_memory_layer_kept(example_project: Path, tandem: TandemRunner) -> None:
    # The example's consumers use groups: with the in-memory layer kept on purpose, four processes would
    # lose group messages between them, and the check that says so stops serve before anything starts.
    result = refused(tandem, example_project, "--procs", "4", "--channel-layer", "memory")
    assert "tandem.E002" in result.stderr and "nothing was started" in result.stderr, result.stderr
    assert "hint: drop --channel-layer memory" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.run.alive_descendants() == []

    # Accepted when the user says their consumers use no groups: four processes, all serving, no Redis.
    run = tandem.serve(example_project, "--procs", "4", "--channel-layer", "memory", "--allow-inmemory")
    assert len(daphne_pids(run)) == 4, run.output
    assert "started redis" not in run.output
    assert httpx.get(run.url + "healthz", timeout=10, trust_env=False).json() == {"status": "ok"}
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_several_processes_get_a_managed_redis(example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(example_project, "--procs", "2")
    assert len(daphne_pids(run)) == 2, run.output
    assert "channel layer: managed Redis" in run.output, run.output
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_the_command_line_parser_rejects_an_unknown_option(
    example_project: Path, tandem: TandemRunner
) -> None:
    result = run_tandem(tandem, "serve", "--prcs", "2", cwd=example_project)
    assert result.code == USAGE
    assert "No such option '--prcs'" in result.stderr
    assert "'--procs'" in result.stderr  # the suggestion
    assert "Traceback" not in result.stderr
