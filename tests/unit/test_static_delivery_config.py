"""What the proxy configs say about static files and the app being down (issue 14 item 4), read back the way
nginx reads its config: precompressed siblings, caching by hashed name from tandem's one rule, nosniff,
HSTS repeated in every location with add_header of its own, and one unavailable page for both proxies.
The served behaviour is tested end to end in tests/integration/test_static_delivery.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tandem.proxies.caddy import render_caddy
from tandem.proxies.nginx import render_nginx
from tandem.proxies.pages import UNAVAILABLE_PAGE
from tandem.staticheaders import HASHED_NAME, IMMUTABLE, SHORT
from tests.nginx_parse import Directive, parse
from tests.unit.test_nginx_render import CASES, make_plan

pytestmark = pytest.mark.usefixtures("django_settings")


def spec(tmp: Path, name: str = "export-unix"):  # type: ignore[no-untyped-def]
    case = next(c for c in CASES if c.name == name)
    plan = make_plan(tmp, case)
    assert plan.proxy is not None
    return plan.proxy


def walk(directives: tuple[Directive, ...] | list[Directive]):  # type: ignore[no-untyped-def]
    for directive in directives:
        yield directive
        if directive.block:
            yield from walk(directive.block)


def locations(conf: str) -> dict[str, Directive]:
    return {" ".join(d.args): d for d in walk(parse(conf)) if d.name == "location"}


def inside(location: Directive, name: str) -> list[tuple[str, ...]]:
    return [d.args for d in location.block or () if d.name == name]


def test_nginx_static_location(tmp_path: Path) -> None:
    conf = render_nginx(spec(tmp_path)).content
    static = locations(conf)["^~ /static/"]
    assert inside(static, "gzip_static") == [("on",)]
    assert inside(static, "gzip_vary") == [("on",)]
    assert ("X-Content-Type-Options", "nosniff") in inside(static, "add_header")
    assert not inside(static, "expires")  # Cache-Control comes from the map alone, no second header
    (cache,) = [args for args in inside(static, "add_header") if args[0] == "Cache-Control"]
    variable = cache[1].lstrip("$")
    (mapping,) = [d for d in walk(parse(conf)) if d.name == "map" and d.args[1] == f"${variable}"]
    assert mapping.args[0] == "$uri"
    entries = {d.name: d.args for d in mapping.block or ()}
    assert entries["default"] == (SHORT,)
    assert entries[f"~{HASHED_NAME}"] == (IMMUTABLE,)
    media = locations(conf)["^~ /media/"]
    assert not inside(media, "gzip_static")  # uploads are served as they are


def test_nginx_error_page_keeps_the_status(tmp_path: Path) -> None:
    conf = render_nginx(spec(tmp_path)).content
    (error_page,) = [d.args for d in walk(parse(conf)) if d.name == "error_page"]
    assert error_page == ("502", "503", "504", "/.tandem/unavailable")
    page = locations(conf)["= /.tandem/unavailable"]
    assert inside(page, "internal") == [()]  # not a URL a client can ask for
    assert inside(page, "return") == [("200", UNAVAILABLE_PAGE)]  # error_page keeps the original status


def test_nginx_hsts_is_repeated_where_a_location_adds_headers(tmp_path: Path) -> None:
    """A location with add_header of its own inherits none from the server: HSTS would be lost on static
    files and on the unavailable page."""
    proxy = replace(
        spec(tmp_path, "managed-unix"), tls_cert="/tls/cert.pem", tls_key="/tls/key.pem", hsts=600
    )
    conf = render_nginx(proxy).content
    for name, location in locations(conf).items():
        headers = inside(location, "add_header")
        if headers:
            assert any(h[0] == "Strict-Transport-Security" for h in headers), name


def test_caddy_uses_the_same_rule_and_page(tmp_path: Path) -> None:
    caddyfile = render_caddy(replace(spec(tmp_path, "managed-unix"), listen_fd=3)).content
    assert f"@hashed path_regexp {HASHED_NAME}" in caddyfile
    # Deferred, so a 404 (handled elsewhere) carries no Cache-Control.
    assert f'header @hashed {{\n\t\t\tCache-Control "{IMMUTABLE}"\n\t\t\tdefer\n' in caddyfile
    assert f'header @unhashed {{\n\t\t\tCache-Control "{SHORT}"\n\t\t\tdefer\n' in caddyfile
    assert "precompressed br gzip" in caddyfile
    assert f'respond "{UNAVAILABLE_PAGE}" {{err.status_code}}' in caddyfile
