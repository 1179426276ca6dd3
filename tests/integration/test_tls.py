"""TLS at the proxy (issue 14 item 2) and proxies trusted in front (item 3), behind nginx and Caddy alike:
https with HTTP/2 negotiated by ALPN and HTTP/1.1, wss, the redirect port, HSTS, Django seeing https in
Gunicorn and in Daphne (a view and a consumer), and X-Forwarded-Proto/-For believed from --trusted-proxy
peers only."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Tandem, TandemRunner

PROXIES = ["nginx", "caddy"]


@pytest.fixture(params=PROXIES)
def proxy(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


def certificate(run: Tandem) -> str:
    """The self-signed certificate's path, as serve printed it for clients to trust."""
    return run.wait_for_line(r"self-signed certificate for .* at (\S+/cert\.pem)", timeout=5).group(1)


def trusting(cert: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert)


@contextmanager
def wss(url: str, path: str, cert: str, headers: dict[str, str] | None = None) -> Iterator[ClientConnection]:
    with connect(
        url.replace("https://", "wss://", 1) + path.lstrip("/"),
        origin=url.rstrip("/"),  # type: ignore[arg-type]
        additional_headers=headers or {},
        ssl=trusting(cert),
        open_timeout=15,
    ) as ws:
        yield ws


def test_https_http2_wss_redirect_and_hsts(proxy: str, example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(
        example_project, "--mode", "split", "--proxy", proxy, "--tls", "self-signed",
        "--redirect-port", "0", "--hsts", "600", "--workers", "1",
    )  # fmt: skip
    assert run.url.startswith("https://127.0.0.1:")
    cert = certificate(run)

    # HTTP/2 when the client offers it (ALPN), HTTP/1.1 when it does not; the certificate verifies.
    with httpx.Client(verify=trusting(cert), http2=True, timeout=15) as client:
        answer = client.get(run.url + "whoami", headers={"X-Forwarded-Proto": "http"})
        assert answer.http_version == "HTTP/2"
        assert answer.headers["strict-transport-security"] == "max-age=600"
        # Gunicorn's view sees https; the client's own X-Forwarded-Proto is not believed.
        assert answer.json() | {"user": None} == {
            "remote_addr": "127.0.0.1", "scheme": "https", "is_secure": True, "user": None, "server": "wsgi",
        }  # fmt: skip
    with httpx.Client(verify=trusting(cert), timeout=15) as client:
        answer = client.get(run.url + "healthz")
        assert (answer.http_version, answer.status_code) == ("HTTP/1.1", 200)

    # wss: the round trip, and the consumer is told the scheme is wss.
    with wss(run.url, "/ws/echo/", cert, {"X-Forwarded-Proto": "http"}) as ws:
        ws.send("over tls")
        assert ws.recv(timeout=15) == "over tls"
        ws.send("?whoami")
        assert json.loads(ws.recv(timeout=15)) == {"scheme": "wss", "client": "127.0.0.1"}

    # The redirect port answers plain HTTP with a redirect to the https port, path and query kept.
    redirect = re.search(r"plain HTTP on (http://\S+)/ redirects", run.output)
    assert redirect, run.output
    moved = httpx.get(redirect.group(1) + "/rooms/lobby/?a=1", timeout=15)
    assert moved.status_code == 308
    assert moved.headers["location"] == run.url + "rooms/lobby/?a=1"
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_a_daphne_view_sees_https(proxy: str, example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(
        example_project, "--mode", "split", "--proxy", proxy, "--tls", "self-signed",
        "--asgi-prefix", "/whoami", "--workers", "1",
    )  # fmt: skip
    cert = certificate(run)
    for spoof in ({}, {"X-Forwarded-Proto": "http"}, {"X-Forwarded-Proto": "https"}):
        answer = httpx.get(run.url + "whoami", headers=spoof, verify=trusting(cert), timeout=15).json()
        assert (answer["server"], answer["scheme"], answer["is_secure"]) == ("asgi", "https", True), spoof


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_forwarded_headers_believed_from_a_trusted_proxy_only(
    proxy: str, server: str, example_project: Path, tandem: TandemRunner
) -> None:
    """--trusted-proxy 127.0.0.2/32: a request from 127.0.0.2 (a balancer that terminated TLS) has its
    X-Forwarded-Proto and X-Forwarded-For believed and passed on to both app servers; the same headers
    from 127.0.0.1, not trusted, are overwritten as ever."""
    extra = ("--asgi-prefix", "/whoami") if server == "asgi" else ()
    run = tandem.serve(
        example_project, "--mode", "split", "--proxy", proxy, "--trusted-proxy", "127.0.0.2/32",
        "--workers", "1", *extra,
    )  # fmt: skip
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    balancer = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=balancer, timeout=15) as client:
        answer = client.get(run.url + "whoami", headers=forwarded).json()
        assert answer["server"] == server
        assert (answer["remote_addr"], answer["scheme"], answer["is_secure"]) == (
            "198.51.100.7",
            "https",
            True,
        )
        # A trusted peer's plain-HTTP claim is believed too.
        answer = client.get(run.url + "whoami", headers={**forwarded, "X-Forwarded-Proto": "http"}).json()
        assert (answer["scheme"], answer["is_secure"]) == ("http", False)
        # Without headers, the peer itself is the client.
        assert client.get(run.url + "whoami").json()["remote_addr"] == "127.0.0.2"
    answer = httpx.get(run.url + "whoami", headers=forwarded, timeout=15).json()
    assert (answer["remote_addr"], answer["scheme"], answer["is_secure"]) == ("127.0.0.1", "http", False)
    assert run.stop() == 0


def test_tls_refused_on_an_app_host_naming_why(example_project: Path, tandem: TandemRunner) -> None:
    """Unified mode takes --tls (tests/integration/test_unified_proxy.py); an app host, which runs no proxy,
    still refuses it, before anything starts."""
    code, output = tandem.run(
        "serve", "--port", "0", "--role", "app", "--edge-secret", "s" * 16, "--tls", "self-signed",
        cwd=example_project,
    )  # fmt: skip
    assert code != 0
    assert "--tls is for the host that runs the proxy" in output and "its edge terminates TLS" in output
    assert "Ready:" not in output and "Traceback" not in output
