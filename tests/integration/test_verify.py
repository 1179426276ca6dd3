"""`tandem verify` against real deployments: the example project served by tandem in both topologies
(everything passes), and hand-written nginx configs started for real in front of Daphne, each with one
classic mistake that verify must name.

nginx gets its listening socket from this process (bound to port 0, passed in $NGINX, the way tandem's
split mode starts it), so there is no window in which another process could take the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import BOTH_MODES, TandemRunner, example_env, require, stop_process, wait_for
from tests.integration.test_tls import certificate

TOKEN = "verify-" + secrets.token_hex(12)
VERIFY_TIMEOUT = 120


def served_env(project: Path, **extra: str) -> dict[str, str]:
    env = example_env(project)
    env["TANDEM_DIAGNOSTIC_TOKEN"] = TOKEN
    env.update(extra)
    return env


def run_verify(project: Path, url: str, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, object]]:
    """`tandem verify URL --json ARGS` run inside ``project`` (routes and a static file discovered)."""
    env = example_env(project)
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "verify", url, "--json", "--token", TOKEN, *args],
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT,
    )
    assert result.stdout.strip(), f"no JSON; stderr:\n{result.stderr}"
    report = json.loads(result.stdout)
    assert result.returncode == (1 if any(r["status"] == "FAIL" for r in report["results"]) else 0), report
    return result.returncode, report


def rows(report: dict[str, object], prefix: str) -> list[dict[str, str]]:
    found = [r for r in report["results"] if r["name"].startswith(prefix)]  # type: ignore[attr-defined]
    assert found, f"no result named {prefix!r} in {report}"
    return found


def statuses(report: dict[str, object]) -> dict[str, str]:
    return {r["name"]: r["status"] for r in report["results"]}  # type: ignore[attr-defined]


# --- the example served by tandem: everything passes ----------------------------------------------------


@BOTH_MODES
def test_example_passes_everything(mode: str, example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(example_project, "--mode", mode, env=served_env(example_project))
    rc, report = run_verify(example_project, run.url, "--idle", "1", "--echo", "/ws/echo/")
    assert rc == 0
    assert set(statuses(report).values()) == {"PASS"}, report
    names = statuses(report)
    for expected in (
        "HTTP /",
        "diagnostic endpoint",
        "client address",
        "websocket /ws/echo/",
        "websocket /ws/chat/tandem-verify/",
        "websocket foreign Origin",
        "websocket idle 1 s",
    ):
        assert expected in names, names
    assert rows(report, "websocket /ws/echo/")[0]["detail"].endswith("(echoed)")
    # Only the route named with --echo got a data frame; the chat route got a handshake and a ping.
    assert "text frame" not in rows(report, "websocket /ws/chat/")[0]["sent"]
    static = rows(report, "static /static/")[0]["detail"]
    assert ("served by the app server's static handler" in static) is (mode == "unified")
    assert "max-age=3600" in static


def test_without_token_and_outside_the_project(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """No token: the endpoint stays off and its probes are skipped; --ws/--static-path replace discovery."""
    run = tandem.serve(example_project)  # no TANDEM_DIAGNOSTIC_TOKEN: the endpoint is off
    off = httpx.get(run.url + ".tandem/diagnose", headers={"X-Tandem-Diagnostic": TOKEN}, timeout=10)
    assert off.status_code == 404
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in example_env(example_project).items() if k != "TANDEM_DIAGNOSTIC_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "verify", run.url, "--json", "--ws", "/ws/echo/",
         "--static-path", "/static/chat/chat.css"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    names = statuses(report)
    assert names["diagnostic endpoint"] == "SKIP" and names["client address"] == "SKIP"
    assert names["websocket /ws/echo/"] == "PASS" and names["static /static/chat/chat.css"] == "PASS"
    assert "websocket /ws/chat/tandem-verify/" not in names  # only what --ws named
    # A token the site does not have: the endpoint does not answer, and that is a FAIL naming the fix.
    rc, report = run_verify(example_project, run.url)
    assert rc == 1
    assert "diagnose_view" in rows(report, "diagnostic endpoint")[0]["hint"]


def test_nothing_listening_and_bad_url(tmp_path: Path) -> None:
    with socket.socket() as holder:  # bound, never listening: connections are refused
        holder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{holder.getsockname()[1]}/"
        result = subprocess.run(
            [sys.executable, "-m", "tandem", "verify", url, "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
        )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert [r["status"] for r in report["results"]] == ["FAIL"]
    assert "cannot connect" in report["results"][0]["detail"]
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "verify", "ftp://example.com/"],
        cwd=tmp_path, capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not an http(s) URL" in result.stderr


# --- hand-written nginx in front of Daphne, each with one mistake ---------------------------------------


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


class NginxRunner:
    def __init__(self, binary: str, tmp_path: Path) -> None:
        self.binary = binary
        self.tmp_path = tmp_path
        self.running: list[Nginx] = []

    def start(self, server: str, *, tls: bool = False) -> Nginx:
        """nginx with one server block, on a port bound here and handed over in $NGINX."""
        prefix = self.tmp_path / f"nginx-{len(self.running)}"
        prefix.mkdir()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        temp = "\n".join(
            f"    {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port}{" ssl" if tls else ""};
{server}
    }}
}}
"""
        )
        log = prefix / "output.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [self.binary, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;", "-e", "stderr"],
                env={**os.environ, "NGINX": f"{listener.fileno()};"},
                pass_fds=(listener.fileno(),),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        listener.close()  # nginx holds its own copy
        server_ = Nginx(proc, f"{'https' if tls else 'http'}://127.0.0.1:{port}/", log)
        self.running.append(server_)
        wait_for(lambda: proc.poll() is not None or (prefix / "nginx.pid").exists(), message="nginx start")
        assert proc.poll() is None, log.read_text()
        return server_

    def stop_all(self) -> None:
        for server in self.running:
            if server.proc.poll() is None:
                server.proc.send_signal(signal.SIGQUIT)
                try:
                    server.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(server.proc.pid, signal.SIGKILL)
                    server.proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.proc.pid, signal.SIGKILL)  # workers of a master that died first


@pytest.fixture
def nginx(nginx_bin: str, tmp_path: Path) -> Iterator[NginxRunner]:
    runner = NginxRunner(nginx_bin, tmp_path)
    try:
        yield runner
    finally:
        runner.stop_all()


def daphne_upstream(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


WS_HEADERS = """
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $http_host;"""


def test_broken_nginx_configs(example_project: Path, tandem: TandemRunner, nginx: NginxRunner) -> None:
    """In front of a tandem-served unified Daphne: missing upgrade headers, a short read timeout, static
    files passed to the app server. Each is named; the rest of the same deployment still passes."""
    daphne = tandem.serve(example_project, env=served_env(example_project))
    upstream = daphne_upstream(daphne.url)

    # 1. No Upgrade/Connection headers and HTTP/1.0 to the upstream: the handshake becomes a plain GET.
    no_upgrade = nginx.start(f"""
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header Host $http_host;
        }}""")
    rc, report = run_verify(example_project, no_upgrade.url)
    assert rc == 1
    assert statuses(report)["HTTP /"] == "PASS"
    for row in rows(report, "websocket /ws/"):
        assert row["status"] == "FAIL", row
        assert "reached the HTTP handler" in row["detail"], row
        assert "proxy_set_header Upgrade $http_upgrade" in row["hint"]

    # 2. A 2 s proxy_read_timeout against Daphne's 20 s pings: an idle socket is cut.
    short = nginx.start(f"""
        location / {{
            proxy_pass http://{upstream};{WS_HEADERS}
            proxy_read_timeout 2s;
        }}""")
    rc, report = run_verify(example_project, short.url, "--idle", "4")
    assert rc == 1
    idle = rows(report, "websocket idle 4 s")[0]
    assert idle["status"] == "FAIL", idle
    assert "closed after" in idle["detail"] and "proxy_read_timeout" in idle["hint"]
    assert statuses(report)["websocket /ws/echo/"] == "PASS"  # the handshake itself is fine here
    rc, report = run_verify(example_project, short.url, "--idle", "1")  # within the timeout: survives
    assert statuses(report)["websocket idle 1 s"] == "PASS"

    # 3. Everything, /static/ included, proxied to the app server.
    static_to_app = nginx.start(f"""
        location / {{
            proxy_pass http://{upstream};{WS_HEADERS}
        }}""")
    rc, report = run_verify(example_project, static_to_app.url)
    assert rc == 1
    static = rows(report, "static /static/")[0]
    assert static["status"] == "FAIL", static
    assert "passes static files to the app server" in static["detail"]
    assert "alias" in static["hint"]
    assert statuses(report)["websocket /ws/echo/"] == "PASS"

    # 4. A static location pointing at a directory collectstatic never filled: the asset verify found in
    #    the project's STATIC_ROOT is a 404 through the proxy.
    empty = example_project / "not-collected"
    empty.mkdir()
    missing_static = nginx.start(f"""
        location /static/ {{
            alias {empty}/;
            expires 1h;
        }}
        location / {{
            proxy_pass http://{upstream};{WS_HEADERS}
        }}""")
    rc, report = run_verify(example_project, missing_static.url)
    assert rc == 1
    static = rows(report, "static /static/")[0]
    assert static["status"] == "FAIL" and "HTTP 404" in static["detail"], static
    assert "collectstatic" in static["hint"] and "STATIC_ROOT" in static["hint"]
    assert "from STATIC_ROOT" in static["sent"] or "manifest" in static["sent"]


def add_diagnose_view(project: Path) -> None:
    """A hand-built deployment exposes the endpoint through its own urls.py."""
    urls = project / "chatsite" / "urls.py"
    urls.write_text(
        urls.read_text()
        + "\nfrom tandem.diagnostics import diagnose_view  # noqa: E402\n\n"
        + 'urlpatterns.insert(0, path(".tandem/diagnose", diagnose_view))\n'
    )


@pytest.fixture
def hand_daphne(example_project: Path, tmp_path: Path) -> Iterator[Path]:
    """Daphne started by hand, the way many deployments do: on a unix socket, trusting --proxy-headers."""
    add_diagnose_view(example_project)
    sock = Path(f"/tmp/tandem-verify-{os.getpid()}-{time.monotonic_ns()}.sock")
    log = tmp_path / "daphne.log"
    env = served_env(example_project, DJANGO_SETTINGS_MODULE="chatsite.settings")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-u", str(sock), "--proxy-headers", "chatsite.asgi:application"],
            cwd=example_project, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def answers() -> bool:
        if proc.poll() is not None:
            return True
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(sock))
            except OSError:
                return False
        return True

    try:
        wait_for(answers, timeout=60, message="hand-started Daphne")
        assert proc.poll() is None, log.read_text()
        yield sock
    finally:
        stop_process(proc, timeout=15)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()


def test_spoofable_client_address(example_project: Path, hand_daphne: Path, nginx: NginxRunner) -> None:
    """nginx appends to the client's X-Forwarded-For and Daphne --proxy-headers believes its left-most
    value: caught. The same deployment with the header overwritten passes every probe."""
    static_root = example_project / "staticfiles"
    common = f"""
        location /static/ {{
            alias {static_root}/;
            expires 1h;
        }}"""
    appending = nginx.start(f"""{common}
        location / {{
            proxy_pass http://unix:{hand_daphne};{WS_HEADERS}
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}""")
    rc, report = run_verify(example_project, appending.url)
    assert rc == 1
    address = rows(report, "client address")[0]
    assert address["status"] == "FAIL" and "spoofable" in address["detail"], address
    assert "$remote_addr" in address["hint"]
    assert statuses(report)["diagnostic endpoint"] == "PASS"  # the hand-built endpoint (diagnose_view)

    overwriting = nginx.start(f"""{common}
        location / {{
            proxy_pass http://unix:{hand_daphne};{WS_HEADERS}
            proxy_set_header X-Forwarded-For $remote_addr;
        }}""")
    rc, report = run_verify(example_project, overwriting.url, "--idle", "1")
    assert rc == 0
    assert set(statuses(report).values()) == {"PASS"}, report


def make_certificate(directory: Path) -> tuple[Path, Path]:
    openssl = require("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("trust_proto", [False, True], ids=["no-proxy-ssl-header", "proxy-ssl-header"])
def test_https_behind_tls_proxy(
    trust_proto: bool, example_project: Path, tandem: TandemRunner, nginx: NginxRunner, tmp_path: Path
) -> None:
    """nginx terminates TLS: wss works either way; Django sees https only with SECURE_PROXY_SSL_HEADER."""
    cert, key = make_certificate(tmp_path)
    env = served_env(example_project, CHAT_TRUST_X_FORWARDED_PROTO="1" if trust_proto else "0")
    daphne = tandem.serve(example_project, env=env)
    tls = nginx.start(
        f"""
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location /static/ {{
            alias {example_project / "staticfiles"}/;
            expires 1h;
        }}
        location / {{
            proxy_pass http://{daphne_upstream(daphne.url)};{WS_HEADERS}
            proxy_set_header X-Forwarded-Proto $scheme;
        }}""",
        tls=True,
    )
    rc, report = run_verify(example_project, tls.url, "--cacert", str(cert))
    names = statuses(report)
    assert names["websocket /ws/echo/"] == "PASS" and names["websocket /ws/chat/tandem-verify/"] == "PASS"
    scheme = rows(report, "https scheme")[0]
    if trust_proto:
        # This nginx sends no HSTS: opt-in, so verify reports it (SKIP) and does not fail.
        assert rc == 0 and names.pop("HSTS") == "SKIP", report
        assert set(names.values()) == {"PASS"}, report
    else:
        assert rc == 1
        assert scheme["status"] == "FAIL" and "Django sees http" in scheme["detail"]
        assert "SECURE_PROXY_SSL_HEADER" in scheme["hint"]
    # Without the CA the certificate is not trusted, and verify says how to fix that.
    rc, report = run_verify(example_project, tls.url)
    assert rc == 1 and "--cacert" in str(rows(report, "HTTP /")[0]["hint"])


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


@pytest.mark.parametrize("hsts", [None, 600], ids=["no-hsts", "hsts-600"])
def test_tandem_tls_passes_everything(
    proxy: str, hsts: int | None, example_project: Path, tandem: TandemRunner
) -> None:
    """`tandem serve --mode split --proxy P --tls self-signed`, verified over https with --cacert pointing
    at the certificate serve generated: every probe passes, the sockets went to wss://, Django sees https,
    and the HSTS row reports --hsts when given (SKIP, not a failure, without it)."""
    extra = ("--hsts", str(hsts)) if hsts else ()
    run = tandem.serve(
        example_project, "--mode", "split", "--proxy", proxy, "--tls", "self-signed", "--workers", "1",
        *extra, env=served_env(example_project),
    )  # fmt: skip
    assert run.url.startswith("https://127.0.0.1:"), run.url
    cert = certificate(run)
    rc, report = run_verify(example_project, run.url, "--cacert", cert, "--idle", "1", "--echo", "/ws/echo/")
    names = statuses(report)
    assert rc == 0, report
    hsts_row = rows(report, "HSTS")[0]
    if hsts:
        assert hsts_row["status"] == "PASS" and "max-age=600 (10 min)" in hsts_row["detail"], hsts_row
    else:
        assert hsts_row["status"] == "SKIP" and "opt-in" in hsts_row["detail"], hsts_row
    del names["HSTS"]
    assert set(names.values()) == {"PASS"}, report
    assert "Django sees https" in rows(report, "https scheme")[0]["detail"]
    wss = run.url.replace("https://", "wss://", 1).rstrip("/")
    for path in ("/ws/echo/", "/ws/chat/tandem-verify/"):
        row = rows(report, f"websocket {path}")[0]
        assert f"to {wss}{path} " in row["sent"], row
    assert rows(report, "websocket /ws/echo/")[0]["detail"].endswith("(echoed)")
    assert names["websocket idle 1 s"] == "PASS" and names["client address"] == "PASS"
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_verify_table_output(example_project: Path, tandem: TandemRunner) -> None:
    """The human output: a table with one row per probe and a summary line."""
    run = tandem.serve(example_project, env=served_env(example_project))
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "verify", run.url, "--token", TOKEN],
        cwd=example_project, env=example_env(example_project), capture_output=True, text=True,
        timeout=VERIFY_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "websocket /ws/echo/" in result.stdout and "PASS" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("OK: ")
