"""The corpus projects for layouts and boot failures (tests/corpus/<name>/), each served for real by
`tandem serve --port 0` in both modes, with the outcome asserted: a view's answer through the Ready URL,
or one clear error naming the user's own line.

- nomanage: no manage.py; settings from DJANGO_SETTINGS_MODULE or --settings, like python -m django.
- shadowed: settings tests.settings in the directory tandem runs in, --project example whose own tests/
  package would shadow them.
- wsgi_raises / asgi_raises: the application module raises NameError at import.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import BOTH_MODES, TandemRunner, clean_env

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BOOT_FAILED = 4


def corpus_copy(name: str, tmp_path: Path) -> Path:
    """A private copy: serving writes collected static files and bytecode next to the project."""
    target = tmp_path / name
    shutil.copytree(CORPUS / name, target, ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
    return target


def without_sbin(env: dict[str, str]) -> dict[str, str]:
    """A normal user's PATH on Debian: no /usr/sbin, where the nginx package installs nginx."""
    keep = [d for d in env.get("PATH", "").split(os.pathsep) if d and not d.rstrip("/").endswith("sbin")]
    return env | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), *keep])}


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)


@BOTH_MODES
def test_no_manage_py_settings_from_the_environment(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_copy("nomanage", tmp_path)
    env = without_sbin(clean_env(DJANGO_SETTINGS_MODULE="nomanage_site.settings"))
    run = tandem.serve(project, "--mode", mode, env=env)
    response = get(run.url)
    assert (response.status_code, response.text) == (200, "nomanage ok"), run.output
    run.stop()
    assert run.alive_descendants() == []


def test_no_manage_py_settings_from_the_option(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_copy("nomanage", tmp_path)
    run = tandem.serve(project, "--settings", "nomanage_site.settings", env=clean_env())
    assert get(run.url).text == "nomanage ok"


def test_no_manage_py_with_pythonpath(tmp_path: Path, tandem: TandemRunner) -> None:
    """django-admin's way: the project directory named by --pythonpath, run from somewhere else."""
    project = corpus_copy("nomanage", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tandem.serve(
        elsewhere, "--settings", "nomanage_site.settings", "--pythonpath", str(project), env=clean_env()
    )
    assert get(run.url).text == "nomanage ok"


@BOTH_MODES
def test_settings_package_shadowed_by_a_nested_one(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    """The reported failure: tests.settings here, --project example with a tests/ package of its own."""
    repo = corpus_copy("shadowed", tmp_path)
    env = clean_env(DJANGO_SETTINGS_MODULE="tests.settings")
    run = tandem.serve(repo, "--project", "example", "--mode", mode, env=env)
    response = get(run.url)
    assert (response.status_code, response.text) == (200, "shadowed settings ok"), run.output


@pytest.mark.usefixtures("nginx_bin")
def test_wsgi_raising_in_split_mode_names_the_users_line_once(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_copy("wsgi_raises", tmp_path)
    # --skip-checks: `tandem check` (E005) would refuse before anything starts; this is the runtime's report.
    run = tandem.start(
        "serve",
        "--mode",
        "split",
        "--port",
        "0",
        "--workers",
        "4",
        "--skip-checks",
        cwd=project,
        env=clean_env(),
    )
    code = run.wait_exit(90)
    output = run.output
    assert code == BOOT_FAILED, output
    error = [line for line in output.splitlines() if line.startswith("tandem: error:")]
    assert len(error) == 1, output
    assert "NameError: name 'wrap_with_sentry' is not defined (wsgiboom/wsgi.py, line 7)" in error[0]
    assert "HaltServer" not in error[0]
    # One copy of the traceback, though four workers failed: streamed once, summarised once.
    where = f'File "{project.resolve() / "wsgiboom" / "wsgi.py"}", line 7'
    assert sum(where in line for line in output.splitlines()) == 2, output
    assert output.count("Exception in worker process") == 0, output
    assert len(output.splitlines()) < 150, output
    assert run.alive_descendants() == []


@pytest.mark.usefixtures("nginx_bin")
def test_wsgi_raising_stops_split_serve_before_anything_starts(tmp_path: Path, tandem: TandemRunner) -> None:
    """Without --skip-checks, check's E005 (the WSGI app imported in a fresh process) refuses first."""
    project = corpus_copy("wsgi_raises", tmp_path)
    code, output = tandem.run("serve", "--mode", "split", "--port", "0", cwd=project, env=clean_env())
    assert code == 2, output
    assert "tandem.E005" in output and "NameError" in output and "(wsgiboom/wsgi.py, line 7)" in output, (
        output
    )
    assert "started " not in output and "Traceback" not in output, output


def test_wsgi_raising_is_no_matter_in_unified_mode(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_copy("wsgi_raises", tmp_path)
    run = tandem.serve(project, env=clean_env())
    assert get(run.url).text == "wsgi_raises ok"


@BOTH_MODES
def test_asgi_raising_names_the_users_line(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_copy("asgi_raises", tmp_path)
    run = tandem.start("serve", "--mode", mode, "--port", "0", "--skip-checks", cwd=project, env=clean_env())
    code = run.wait_exit(90)
    output = run.output
    error = [line for line in output.splitlines() if line.startswith("tandem: error:")]
    assert len(error) == 1, output
    assert "NameError: name 'add_websocket_routes' is not defined (asgiboom/asgi.py, line 7)" in error[0], (
        output
    )
    # Unified: Daphne fails while starting (exit 4). Split: the routes are read from the ASGI app before
    # anything starts, so the same error stops tandem there (exit 2).
    assert code == (BOOT_FAILED if mode == "unified" else 2), output
    assert len(output.splitlines()) < 100, output
    assert run.alive_descendants() == []
