"""Unified mode behind tandem's proxy (issue 14 item 1): with --tls, an explicit --proxy or --trusted-proxy,
nginx or Caddy stands on the public port in front of the Daphne processes. Every request goes to Daphne
(HTTP and WebSocket through the same catch-all), the proxy serves static files from disk, sets the real
client address and scheme (a client's own X-Forwarded-* are overwritten), and bounds request bodies.
``tandem export nginx|caddy --mode unified`` writes that proxy for a production host."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx
import pytest

from tandem.proxies.validate import caddy_validate
from tests.conftest import Tandem, TandemRunner, example_env, tandem_command
from tests.integration.test_split import websocket
from tests.integration.test_split_proxies import reload_with_a_websocket_open
from tests.integration.test_tls import certificate, trusting, wss
from tests.nginx_check import harness, nginx_t

PROXIES = ["nginx", "caddy"]
SERVER_HEADER = {"nginx": "nginx", "caddy": "Caddy"}
SPOOF = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7"}


@pytest.fixture(params=PROXIES)
def front(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


def processes_started(run: Tandem) -> list[str]:
    """The names serve started, in order ("daphne", "nginx")."""
    lines = run.output.splitlines()
    return [line.split("| started ", 1)[1].split(" ", 1)[0] for line in lines if "| started " in line]


def static_from_the_proxy(response: httpx.Response, source: Path, proxy: str) -> None:
    """The file's bytes, answered by the proxy itself: tandem's Daphne sends no Server header at all."""
    assert response.status_code == 200, response.text[:200]
    assert response.content == source.read_bytes()
    assert response.headers["server"] == SERVER_HEADER[proxy]


def test_unified_tls_https_wss_static_and_client_address(
    front: str, example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project, "--proxy", front, "--tls", "self-signed")
    assert run.url.startswith("https://127.0.0.1:")
    cert = certificate(run)
    assert processes_started(run) == ["daphne", front]
    assert "unified mode, 2 process(es)" in run.output
    with httpx.Client(verify=trusting(cert), http2=True, timeout=15) as client:
        # Daphne answers the view (unified: no Gunicorn) and sees https and the real client, whatever the
        # client claims in its own forwarding headers.
        answer = client.get(run.url + "whoami", headers=SPOOF)
        assert answer.http_version == "HTTP/2"
        assert answer.json() == {
            "remote_addr": "127.0.0.1", "scheme": "https", "is_secure": True, "user": None, "server": "asgi",
        }  # fmt: skip
        css = client.get(run.url + "static/chat/chat.css", headers={"Accept-Encoding": "identity"})
        static_from_the_proxy(css, example_project / "staticfiles" / "chat" / "chat.css", front)
        assert client.get(run.url + "healthz").status_code == 200

    # wss through the same proxy: the consumer is told the scheme is wss and the client's real address.
    with wss(run.url, "/ws/echo/", cert, SPOOF) as ws:
        ws.send("unified over tls")
        assert ws.recv(timeout=15) == "unified over tls"
        ws.send("?whoami")
        assert json.loads(ws.recv(timeout=15)) == {"scheme": "wss", "client": "127.0.0.1"}
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_unified_plain_proxy_routes_http_and_websockets_to_daphne(
    front: str, example_project: Path, tandem: TandemRunner
) -> None:
    """--proxy alone: plain HTTP through the proxy, the body limit at the proxy, no TLS."""
    env = {**example_env(example_project), "TANDEM_MAX_BODY_SIZE": "1k"}
    run = tandem.serve(example_project, "--proxy", front, env=env)
    assert run.url.startswith("http://127.0.0.1:")
    assert processes_started(run) == ["daphne", front]
    answer = httpx.get(run.url + "whoami", headers=SPOOF, timeout=15)
    assert answer.json() == {
        "remote_addr": "127.0.0.1", "scheme": "http", "is_secure": False, "user": None, "server": "asgi",
    }  # fmt: skip
    css = httpx.get(run.url + "static/chat/chat.css", headers={"Accept-Encoding": "identity"}, timeout=15)
    static_from_the_proxy(css, example_project / "staticfiles" / "chat" / "chat.css", front)
    # A body above the limit is refused by the proxy itself, before Daphne reads it.
    too_large = httpx.post(run.url + "whoami", content=b"x" * 4096, timeout=15)
    assert too_large.status_code == 413
    assert too_large.headers.get("server") == SERVER_HEADER[front]

    with websocket(run.url, "/ws/echo/", SPOOF) as ws:
        ws.send("through the proxy")
        assert ws.recv(timeout=15) == "through the proxy"
        ws.send("?whoami")
        assert json.loads(ws.recv(timeout=15)) == {"scheme": "ws", "client": "127.0.0.1"}
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_reload_behind_the_proxy(front: str, example_project: Path, tandem: TandemRunner) -> None:
    """tandem reload (SIGHUP) in unified mode behind the proxy: the Daphnes are replaced one at a time (an
    open WebSocket is closed by its retiring Daphne with 1012, not cut by the proxy), the proxy keeps
    running with its config unchanged (it sends everything to Daphne whatever the routes), and a route the
    new code adds answers through it."""
    run = tandem.serve(example_project, "--proxy", front)
    reload_with_a_websocket_open(run, example_project)
    assert "config changed with the routing" not in run.output
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_unified_without_a_proxy_option_stays_daphne_alone(
    example_project: Path, tandem: TandemRunner
) -> None:
    """No TLS, --proxy or --trusted-proxy: Daphne alone on the public port, serving static files itself."""
    run = tandem.serve(example_project)
    assert processes_started(run) == ["daphne"]
    css = httpx.get(run.url + "static/chat/chat.css", headers={"Accept-Encoding": "identity"}, timeout=15)
    assert css.status_code == 200 and "server" not in css.headers
    assert run.stop() == 0


@pytest.mark.parametrize("front", ["nginx", "caddy"])
def test_trusted_proxy_in_unified_mode(
    front: str, example_project: Path, tandem: TandemRunner, request: pytest.FixtureRequest
) -> None:
    """--trusted-proxy in unified mode puts the proxy in front: a trusted peer's X-Forwarded-Proto/-For reach
    Daphne, anyone else's are overwritten."""
    request.getfixturevalue(f"{front}_bin")
    run = tandem.serve(example_project, "--trusted-proxy", "127.0.0.2/32", "--proxy", front)
    assert processes_started(run) == ["daphne", front]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=15) as client:
        answer = client.get(run.url + "whoami", headers=forwarded).json()
    assert (answer["server"], answer["remote_addr"], answer["is_secure"]) == ("asgi", "198.51.100.7", True)
    answer = httpx.get(run.url + "whoami", headers=forwarded, timeout=15).json()
    assert (answer["remote_addr"], answer["is_secure"]) == ("127.0.0.1", False)
    assert run.stop() == 0


def follow_the_readme(
    project: Path, out: Path, conf: Path, proxy: str, servers: Path, env: dict[str, str]
) -> None:
    """The proxy export's README names the app servers' export with --mode unified --proxy PROXY and no
    Gunicorn; run as written, that export's Daphne binds the socket the proxy sends to (without --proxy,
    unified mode would put Daphne alone on the public port: the proxy's 502s)."""
    readme = (out / "README.txt").read_text()
    assert f"`tandem serve --mode unified --proxy {proxy}`" in readme
    assert "gunicorn" not in readme.lower()
    line = next(x.strip() for x in readme.splitlines() if x.strip().startswith("tandem export procfile "))
    assert f"--mode unified --proxy {proxy} " in line, line
    result = tandem_command(project, *shlex.split(line.replace("DIR", str(servers)))[1:], env=env)
    assert result.returncode == 0, result.stderr
    procfile = (servers / "Procfile").read_text()
    assert "gunicorn" not in procfile.lower()
    sockets = set(re.findall(r"/run/tandem/[\w.-]+\.sock", conf.read_text()))
    assert sockets == {"/run/tandem/daphne.sock"} and "-u /run/tandem/daphne.sock " in procfile, procfile


def test_export_of_unified_mode_behind_each_proxy(
    example_project: Path, tmp_path: Path, nginx_bin: str, caddy_bin: str
) -> None:
    """``tandem export nginx|caddy --mode unified``: the proxy in front of Daphne alone, accepted by the real
    tools; without --mode unified they export split mode as before."""
    env = example_env(example_project)
    out = tmp_path / "nginx"
    result = tandem_command(
        example_project, "export", "nginx", "--mode", "unified", "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    conf = (out / "tandem.conf").read_text()
    assert "upstream tandem_chatsite_wsgi" not in conf and "proxy_pass http://tandem_chatsite_asgi;" in conf
    assert "(every request: unified mode)" in (out / "README.txt").read_text()
    nginx_t(nginx_bin, harness(tmp_path / "harness", out / "tandem.conf"))
    follow_the_readme(example_project, out, out / "tandem.conf", "nginx", tmp_path / "nginx-servers", env)

    out = tmp_path / "caddy"
    result = tandem_command(
        example_project, "export", "caddy", "--mode", "unified", "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "gunicorn" not in (out / "Caddyfile").read_text()
    caddy_validate(caddy_bin, out / "Caddyfile")
    follow_the_readme(example_project, out, out / "Caddyfile", "caddy", tmp_path / "caddy-servers", env)

    out = tmp_path / "split"
    result = tandem_command(example_project, "export", "nginx", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "upstream tandem_chatsite_wsgi" in (out / "tandem.conf").read_text()
