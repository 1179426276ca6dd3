"""`tandem verify` against corpus projects tandem's authors did not write (tests/corpus/), each served for
real by `tandem serve`: verify writes nothing, names a crash as the application failing, calls a login-only
route "needs authentication", and FAILs a site that accepts any Origin.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import TandemRunner, clean_env

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
VERIFY_TIMEOUT = 120


def corpus_project(name: str, tmp_path: Path, *, migrate: bool = False) -> Path:
    """A private copy of tests/corpus/NAME: serving it collects static files and may write a database."""
    target = tmp_path / name
    shutil.copytree(
        CORPUS / name, target, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", "staticfiles")
    )
    if migrate:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=target, env=clean_env(), check=True, timeout=120,
        )  # fmt: skip
    return target


def verify(project: Path, url: str, *args: str) -> tuple[int, dict[str, dict[str, str]]]:
    """`tandem verify URL --json ARGS` inside ``project``: (exit code, rows by name)."""
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "verify", url, "--json", *args],
        cwd=project, env=clean_env(), capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
    )  # fmt: skip
    assert result.stdout.strip(), f"no JSON; stderr:\n{result.stderr}"
    report = json.loads(result.stdout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {row["name"]: row for row in report["results"]}


def test_a_consumer_that_stores_frames_gets_none(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("notes", tmp_path, migrate=True)
    run = tandem.serve(project, env=clean_env())
    code, rows = verify(project, run.url, "--idle", "1")
    assert code == 0, rows
    route = rows["websocket /ws/notes/"]
    assert route["status"] == "PASS" and "pong" in route["detail"], route
    assert "ping control frame" in route["sent"] and "text frame" not in route["sent"]
    assert rows["websocket foreign Origin"]["status"] == "PASS"
    assert rows["websocket idle 1 s"]["status"] == "PASS"
    static = next(row for name, row in rows.items() if name.startswith("static "))
    assert static["status"] == "PASS" and static["sent"].startswith("GET /static/notes/notes.css")
    with sqlite3.connect(project / "db.sqlite3") as db:
        assert db.execute("select count(*) from notes_note").fetchone() == (0,)
    # Every probe that put something on the wire says what.
    assert all(row["sent"] for row in rows.values() if row["status"] != "SKIP"), rows


def test_a_crashing_consumer_is_an_application_failure(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("commands", tmp_path)
    run = tandem.serve(project, env=clean_env())
    code, rows = verify(project, run.url)
    assert code == 0, rows  # read-only probing never reaches the consumer's receive()
    assert rows["websocket /ws/commands/"]["status"] == "PASS"
    # Told (wrongly) that the route echoes, verify sends a frame: the consumer raises, Daphne closes 1011.
    code, rows = verify(project, run.url, "--echo", "/ws/commands/")
    assert code == 1
    crashed = rows["websocket /ws/commands/"]
    assert crashed["status"] == "FAIL", crashed
    assert "application failed" in crashed["detail"] and "code 1011" in crashed["detail"], crashed
    assert "no close reason given" in crashed["detail"]
    assert "server's log" in crashed["hint"] and "proxy_read_timeout" not in crashed["hint"]
    assert "text frame 'tandem-verify echo" in crashed["sent"]
    # The origin probe does not depend on frames: the handshake succeeded, so it ran.
    assert rows["websocket foreign Origin"]["status"] == "PASS", rows["websocket foreign Origin"]


def session_cookie(project: Path) -> str:
    """A real user and a logged-in session in the project's database, as the login view would make them."""
    code = (
        "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "user = get_user_model().objects.create_user('member', password='pw-member-1')\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY] = str(user.pk)\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "s.save()\n"
        "print(s.session_key)\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=project, env=clean_env(), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return f"sessionid={result.stdout.strip().splitlines()[-1]}"


def test_a_login_only_route_needs_authentication(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("members", tmp_path, migrate=True)
    cookie = session_cookie(project)
    run = tandem.serve(project, env=clean_env())
    code, rows = verify(project, run.url)
    assert code == 0, rows
    inbox = rows["websocket /ws/inbox/"]
    assert inbox["status"] == "SKIP" and inbox["detail"].startswith("needs authentication"), inbox
    assert "AllowedHostsOriginValidator" in inbox["detail"]  # it accepted the site's Origin: not the cause
    assert "ALLOWED_HOSTS" not in inbox["hint"] and "--cookie" in inbox["hint"]
    code, rows = verify(project, run.url, "--cookie", cookie)
    assert code == 0, rows
    assert rows["websocket /ws/inbox/"]["status"] == "PASS", rows["websocket /ws/inbox/"]
    assert "with Cookie" in rows["websocket /ws/inbox/"]["sent"]
    # Logged in, a foreign page's handshake (which would carry the cookie) is still refused.
    assert rows["websocket foreign Origin"]["status"] == "PASS", rows["websocket foreign Origin"]


def test_any_origin_accepted_is_a_fail(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("openorigin", tmp_path)
    run = tandem.serve(project, env=clean_env())
    code, rows = verify(project, run.url)
    assert code == 1
    assert rows["websocket /ws/ticker/"]["status"] == "PASS", rows["websocket /ws/ticker/"]
    foreign = rows["websocket foreign Origin"]
    assert foreign["status"] == "FAIL" and "/ws/ticker/" in foreign["detail"], foreign
    assert "AllowedHostsOriginValidator" in foreign["hint"]


def test_a_403_from_the_origin_validator_names_allowed_hosts(tmp_path: Path, tandem: TandemRunner) -> None:
    """Reached as localhost while ALLOWED_HOSTS names only 127.0.0.1: run inside the project, verify
    evaluates its AllowedHostsOriginValidator for the site's Origin and says it refused the handshake,
    not the consumer's login."""
    project = corpus_project("members", tmp_path, migrate=True)
    settings = project / "membersite" / "settings.py"
    text = settings.read_text()
    assert 'ALLOWED_HOSTS = ["127.0.0.1", "localhost"]' in text
    settings.write_text(text.replace('["127.0.0.1", "localhost"]', '["127.0.0.1"]'))
    run = tandem.serve(project, env=clean_env())
    assert "127.0.0.1" in run.url
    code, rows = verify(project, run.url.replace("127.0.0.1", "localhost"))
    assert code == 1, rows
    inbox = rows["websocket /ws/inbox/"]
    assert inbox["status"] == "FAIL", inbox
    assert "by the origin validator" in inbox["detail"] and "ALLOWED_HOSTS = ['127.0.0.1']" in inbox["detail"]
    assert "needs authentication" not in inbox["detail"]
    assert "'localhost'" in inbox["hint"] and "ALLOWED_HOSTS" in inbox["hint"]
    # Reached by an allowed name, the same route is the login case again.
    code, rows = verify(project, run.url)
    assert rows["websocket /ws/inbox/"]["detail"].startswith("needs authentication"), rows
