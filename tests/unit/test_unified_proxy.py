"""Unified mode behind tandem's proxy (issue 14 item 1): which options put nginx or Caddy in front of the
Daphne processes, and the Plan build_plan makes then (split's proxy spec and renderers, every request to
the ASGI server), checked by the real ``nginx -t`` and ``caddy validate``. Without those options unified
mode's Plan stays Daphne alone on the public socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.config import resolve_config
from tandem.launcher import write_files
from tandem.plan import Plan, plan_addresses
from tandem.proxies.validate import caddy_validate
from tandem.routeview import CATCH_ALL, PATH_PREFIX, route_view
from tandem.runtime.spec import RuntimeSpec
from tandem.tls import ensure_certificate, tls_files
from tandem.topologies import split
from tests.nginx_check import nginx_t
from tests.unit.test_nginx_render import Case, example_routes, make_plan

pytestmark = pytest.mark.usefixtures("django_settings")

UNIFIED = {"mode": "unified"}


@pytest.mark.parametrize(
    ("cli", "environ", "settings", "proxied"),
    [
        ({}, {}, {}, False),  # make run: Daphne alone
        ({"proxy": "nginx"}, {}, {}, True),  # --proxy given, even at its default value
        ({}, {"TANDEM_PROXY": "caddy"}, {}, True),
        ({}, {}, {"PROXY": "nginx"}, True),
        ({"tls": "self-signed"}, {}, {}, True),
        ({"trusted_proxies": ("10.0.0.0/8",)}, {}, {}, True),
        ({"mode": "split", "proxy": "nginx"}, {}, {}, False),  # split always has its proxy
        ({"role": "app", "proxy": "nginx", "edge_secret": "s" * 16}, {}, {}, False),  # app hosts run none
    ],
)
def test_what_puts_a_proxy_in_front_of_unified_mode(
    cli: dict[str, object], environ: dict[str, str], settings: dict[str, object], proxied: bool
) -> None:
    config = resolve_config(cli, environ, settings)
    assert config.unified_proxy is proxied
    names = set(plan_addresses(config, Path("/run/t")))
    if proxied:
        assert names == {"public", "asgi"}
    elif config.mode == "unified" and config.role == "single":
        assert names == {"public"}


def runtime(plan: Plan, role: str = "daphne") -> RuntimeSpec:
    process = next(p for p in plan.processes if p.role == role)
    return RuntimeSpec.from_env(process.env)


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_the_plan_behind_the_proxy(proxy: str, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, Case("u", example_routes, cli={**UNIFIED, "proxy": proxy, "procs": 2}))
    assert plan.mode == "unified" and plan.scheme == "http"
    assert [p.role for p in plan.processes] == ["daphne", "daphne", proxy]
    spec = plan.proxy
    assert spec is not None and spec.asgi_only
    assert spec.wsgi_upstream == "" and spec.asgi_upstream == f"unix:{tmp_path}/run/daphne.sock"
    assert (spec.ws_prefixes, spec.asgi_prefixes, spec.route_by_upgrade) == ((), (), False)
    assert [loc.url for loc in spec.static_locations] == ["/static/", "/media/"]
    # The Daphnes share the internal socket, believe the proxy's forwarding headers (and so set
    # SECURE_PROXY_SSL_HEADER) and leave static files to the proxy.
    daphne = next(p for p in plan.processes if p.role == "daphne")
    assert daphne.probe.shared is not None and daphne.probe.shared.nginx() == spec.asgi_upstream
    assert "--proxy-headers" in daphne.argv
    assert (runtime(plan).trust_proxy, runtime(plan).serve_static) == (True, False)
    conf = plan.files[0].content
    if proxy == "nginx":
        assert "upstream tandem_mysite_wsgi" not in conf
        catch_all = conf[conf.index("    location / {") :]
        assert "proxy_pass http://tandem_mysite_asgi;" in catch_all
        assert "proxy_read_timeout 60s;" in catch_all  # longer than the 20 s ping interval
    else:
        assert "gunicorn" not in conf
        assert conf.count('reverse_proxy "unix/') == 1 and "read_timeout 60s" in conf


def test_without_a_proxy_unified_is_unchanged(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, Case("u", example_routes, cli={**UNIFIED, "procs": 1}))
    assert plan.proxy is None and plan.files == ()
    assert [p.role for p in plan.processes] == ["daphne"]
    assert "--proxy-headers" not in plan.processes[0].argv
    assert (runtime(plan).trust_proxy, runtime(plan).serve_static) == (False, True)


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_unified_tls_config_passes_the_proxys_own_check(
    proxy: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tool = str(request.getfixturevalue("nginx_bin" if proxy == "nginx" else "caddy_bin"))
    cli = {**UNIFIED, "proxy": proxy, "tls": "self-signed", "redirect_port": 8124, "hsts": 600, "procs": 1}
    plan = make_plan(tmp_path, Case("u", example_routes, cli=cli))
    assert plan.scheme == "https" and plan.proxy is not None and plan.proxy.tls_cert
    files = tls_files(resolve_config(cli, {}, {}), plan.runtime_dir)
    assert files is not None
    ensure_certificate(files)
    written = write_files(plan.files, plan.runtime_dir)
    if proxy == "nginx":
        assert "listen 127.0.0.1:8123 ssl http2;" in plan.files[0].content
        nginx_t(tool, plan.runtime_dir / split.NGINX_DIR / "nginx.conf")
    else:
        caddy_validate(tool, written[0])


def test_routes_view_sends_everything_to_daphne(tmp_path: Path) -> None:
    routes = example_routes()
    plan = make_plan(tmp_path, Case("u", example_routes, cli={**UNIFIED, "proxy": "caddy", "procs": 1}))
    view = route_view(plan, routes, ())
    assert view.proxy == "caddy" and view.websocket_by == CATCH_ALL
    served = {(row.prefix, row.server, row.routed_by) for row in view.rows}
    for route in routes.routes:
        assert (route.prefix, "daphne", CATCH_ALL) in served
    assert ("/static/", "caddy", PATH_PREFIX) in served
    assert view.rows[-1].prefix == "/" and view.rows[-1].server == "daphne"


@pytest.mark.parametrize(
    ("cli", "environ", "settings", "named"),
    [
        ({"proxy": "caddy"}, {}, {}, "--proxy"),
        ({}, {"TANDEM_PROXY": "caddy"}, {}, "TANDEM_PROXY"),
        ({}, {}, {"PROXY": "caddy"}, "settings.TANDEM['PROXY']"),
    ],
)
def test_serve_says_where_the_proxy_in_front_came_from(
    cli: dict[str, object], environ: dict[str, str], settings: dict[str, object], named: str, tmp_path: Path
) -> None:
    """A PROXY left in settings.TANDEM or the environment for split deployments also puts a proxy in front of
    unified mode: the start-up note names where it was set, so that is never a surprise."""
    from tandem.plan import Export, build_plan
    from tests.unit.test_nginx_render import PYTHON, make_project

    config = resolve_config({**UNIFIED, **cli}, environ, settings)
    project = make_project(tmp_path, Case("u", example_routes))
    plan = build_plan(config, project, None, Export(Path("/run/tandem"), "t", PYTHON))
    assert f"caddy in front ({named})" in plan.notes[0]
