"""Issue 12 items 6, 7 and the media part of 8, in split mode with the real nginx: unprivileged workers
as root, forwarded headers believed only from tandem's nginx with --internal tcp, and no symlink out of
MEDIA_ROOT. Loopback only; a second loopback address (127.0.0.2) stands for a distinct client."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import TandemRunner, example_env

SPLIT = ("--mode", "split")
SPOOF = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "https"}
TOKEN = "hostile-diagnostic-token-0123"
CLIENT = "127.0.0.2"  # Linux answers the whole 127/8 on lo: a client address nginx's own is not


@pytest.fixture(autouse=True)
def _needs_nginx(nginx_bin: str) -> None:
    """Every test here runs split mode (tests.conftest skips with the install hint without nginx)."""


def from_client(url: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    transport = httpx.HTTPTransport(local_address=CLIENT)
    with httpx.Client(transport=transport, timeout=15) as client:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text[:300]
    answer: dict[str, object] = response.json()
    return answer


def nginx_workers(run_pid: int) -> list[psutil.Process]:
    masters = [p for p in psutil.Process(run_pid).children() if p.name() == "nginx"]
    assert len(masters) == 1, masters
    return masters[0].children()


def test_as_root_nginx_workers_run_unprivileged_and_still_serve_files(
    example_project: Path, tandem: TandemRunner
) -> None:
    if os.geteuid() != 0:
        pytest.skip("nginx switches its workers' user only when started as root")
    media = example_project / "media"
    media.mkdir(exist_ok=True)
    (media / "upload.txt").write_text("uploaded\n")
    run = tandem.serve(example_project, *SPLIT)
    workers = nginx_workers(run.proc.pid)
    users = {w.username() for w in workers}
    print(f"figure: nginx workers {[w.pid for w in workers]} run as {users}")
    assert workers and users == {"www-data"}, users
    assert psutil.Process(workers[0].ppid()).username() == "root"  # only the master keeps root
    assert httpx.get(run.url + "static/chat/chat.css", timeout=15).status_code == 200
    assert httpx.get(run.url + "media/upload.txt", timeout=15).text == "uploaded\n"
    assert httpx.get(run.url + "whoami", timeout=15).status_code == 200  # the 0660 upstream sockets
    assert run.stop() == 0


def test_as_root_unreadable_static_files_are_refused_with_the_reason(
    example_project: Path, tandem: TandemRunner
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the worker user differs from tandem's only when tandem runs as root")
    (example_project / "staticfiles").chmod(0o700)
    code, output = tandem.run("serve", "--port", "0", *SPLIT, cwd=example_project, timeout=90)
    assert code == 2, output
    assert "www-data cannot read STATIC_ROOT" in output and "--nginx-user" in output, output
    assert "Traceback" not in output and "Ready:" not in output
    print(f"figure: {output.strip().splitlines()[-1][:200]}")


def upstreams(tandem: TandemRunner, project: Path) -> dict[str, str]:
    code, output = tandem.run("status", "--json", cwd=project)
    assert code == 0, output
    found: dict[str, str] = json.loads(output)["upstreams"]
    return found


def test_internal_tcp_app_servers_believe_forwarded_headers_only_from_nginx(
    example_project: Path, tandem: TandemRunner
) -> None:
    # /whoami through nginx goes to Daphne (--asgi-prefix); tandem's diagnostic endpoint, which echoes the
    # headers the application sees, stays with Gunicorn.
    env = {**example_env(example_project), "TANDEM_DIAGNOSTIC_TOKEN": TOKEN}
    run = tandem.serve(example_project, *SPLIT, "--internal", "tcp", "--asgi-prefix", "/whoami", env=env)
    direct = upstreams(tandem, example_project)
    for server, address in direct.items():
        assert address.startswith("127.0.0.1:"), direct
        seen = from_client(f"http://{address}/whoami", SPOOF)
        print(f"figure: straight to {server} with X-Forwarded-For 6.6.6.6: {seen}")
        assert seen["remote_addr"] == CLIENT and seen["scheme"] == "http", (server, seen)
        # The real secret is not guessable from outside; a wrong one is no better than none.
        wrong = from_client(f"http://{address}/whoami", {**SPOOF, "X-Tandem-Proxy": "guess"})
        assert wrong["remote_addr"] == CLIENT, (server, wrong)
    through = from_client(run.url + "whoami", SPOOF)
    print(f"figure: through nginx to Daphne from {CLIENT} with X-Forwarded-For 6.6.6.6: {through}")
    assert through["remote_addr"] == CLIENT and through["scheme"] == "http" and through["server"] == "asgi"
    seen = from_client(run.url + ".tandem/diagnose", {**SPOOF, "X-Tandem-Diagnostic": TOKEN})
    print(f"figure: through nginx to Gunicorn: remote_addr {seen['remote_addr']}, scheme {seen['scheme']}")
    assert seen["remote_addr"] == CLIENT and seen["scheme"] == "http" and seen["server"] == "wsgi", seen
    headers = {str(name).lower() for name in seen["headers"]}  # type: ignore[union-attr]
    assert "x-tandem-proxy" not in headers, headers  # removed before the application runs
    assert run.stop() == 0


def test_a_symlink_in_media_root_is_not_followed(example_project: Path, tandem: TandemRunner) -> None:
    media = example_project / "media"
    media.mkdir(exist_ok=True)
    (media / "real.txt").write_text("a real upload\n")
    (media / "passwd").symlink_to("/etc/passwd")
    (media / "etc").symlink_to("/etc")
    run = tandem.serve(example_project, *SPLIT)
    assert httpx.get(run.url + "media/real.txt", timeout=15).text == "a real upload\n"
    for path in ("media/passwd", "media/etc/passwd"):
        response = httpx.get(run.url + path, timeout=15)
        print(f"figure: GET /{path} (a symlink out of MEDIA_ROOT): {response.status_code}")
        assert response.status_code in (403, 404), (path, response.status_code)
        assert "root:" not in response.text
    assert run.stop() == 0
