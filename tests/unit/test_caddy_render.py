"""Rendered Caddyfiles: golden files, each also accepted by the real ``caddy validate``.

Built exactly as the nginx configs are (tests/unit/test_nginx_render.py: a Config, a Project, a RouteTable
walked from real Channels routing, then ``split.build``), with ``--proxy caddy``. The temporary directory is
replaced by ``@TMP@``. Regenerate with ``TANDEM_UPDATE_GOLDEN=1 pytest tests/unit/test_caddy_render.py``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tandem.config import resolve_config
from tandem.errors import ConfigError
from tandem.launcher import write_files
from tandem.plan import Address, BoundSocket, Plan
from tandem.project import Project
from tandem.proxies.caddy import caddy_comment, caddy_path_prefix, caddy_quote, caddy_upstream, reindent
from tandem.proxies.validate import caddy_validate
from tandem.topologies import split
from tests.unit.test_nginx_render import (
    UPDATE,
    Case,
    catch_all_routes,
    example_routes,
    make_project,
    normalise,
    plain_django_routes,
    rendered,
)

PYTHON = "/usr/bin/python3"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "caddy"
# Every character a Caddyfile gives a meaning to that a quoted token can carry ("{", "}" and "\\" cannot).
CADDY_HOSTILE = 'we ird "q" it\'s; #c @m */'

pytestmark = pytest.mark.usefixtures("django_settings")

CASES = [
    Case("managed-unix", example_routes, cli={"proxy": "caddy"}),
    Case("managed-tcp", example_routes, cli={"proxy": "caddy", "internal": "tcp"}),
    Case("managed-upgrade", catch_all_routes, cli={"proxy": "caddy"}),
    Case(
        "managed-asgi-prefix", example_routes, cli={"proxy": "caddy", "asgi_prefixes": ("/sse/", "/whoami")}
    ),
    Case("managed-no-websocket", plain_django_routes, cli={"proxy": "caddy"}),
    Case(
        "managed-hostile-paths",
        example_routes,
        cli={"proxy": "caddy"},
        static_dir=f"static {CADDY_HOSTILE}",
        media_dir=f"media {CADDY_HOSTILE}",
    ),
    # Unified mode behind Caddy (--proxy given): everything to Daphne, static and media from disk.
    Case("managed-unified", example_routes, cli={"mode": "unified", "proxy": "caddy"}),
    Case("export-unix", example_routes, managed=False, cli={"proxy": "caddy"}),
    Case("export-tcp", example_routes, managed=False, cli={"proxy": "caddy", "internal": "tcp"}),
    Case(
        "export-public-url",
        example_routes,
        managed=False,
        cli={"proxy": "caddy", "public_url": "https://chat.example.com"},
    ),
]


def build(tmp: Path, case: Case, project: Project | None = None) -> Plan:
    """The Plan as serve (a managed run hands Caddy the public socket it bound: fd 3 here) or export
    builds it."""
    config = resolve_config({"mode": "split", "port": 8123 if case.managed else 80, **case.cli}, {}, {})
    project = project or make_project(tmp, case)
    try:
        from tandem.plan import Export, Managed, build_plan, plan_addresses  # type: ignore[attr-defined]
    except ImportError:  # before build_plan: a Context handed to the topology
        from tests.unit.test_nginx_render import make_context  # type: ignore[attr-defined]

        ctx = make_context(tmp, case, project)
        if case.managed:
            sockets = dict(ctx.sockets)
            sockets["public"] = BoundSocket(sockets["public"].address, fd=3)
            ctx = replace(ctx, sockets=sockets)
        return split.build(ctx)
    if not case.managed:
        return build_plan(config, project, case.routes(), Export(Path("/run/tandem"), "golden", PYTHON))
    runtime_dir = tmp / "run"
    sockets = {name: BoundSocket(a) for name, a in plan_addresses(config, runtime_dir).items()}
    sockets["public"] = BoundSocket(sockets["public"].address, fd=3)
    secret = ""
    if config.internal == "tcp":
        secret = "golden-secret"
        for name, port in zip(("wsgi", "asgi"), case.tcp_ports, strict=True):
            sockets[name] = BoundSocket(Address(host="127.0.0.1", port=port))
    managed = Managed(runtime_dir, sockets, "golden", PYTHON, proxy_secret=secret)
    return build_plan(config, project, case.routes(), managed)


def check_with_caddy(caddy: str, plan: Plan, tmp: Path) -> None:
    out = plan.runtime_dir if plan.proxy is not None and plan.proxy.managed else tmp / "export"
    written = write_files(plan.files, out)
    caddy_validate(caddy, written[0])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case, tmp_path: Path, caddy_bin: str) -> None:
    plan = build(tmp_path, case)
    content = rendered(plan)
    golden = GOLDEN / f"{case.name}.Caddyfile"
    normalised = normalise(content, tmp_path)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(normalised)
    assert golden.exists(), f"{golden} is missing: run with TANDEM_UPDATE_GOLDEN=1 to create it"
    assert normalised == golden.read_text(), f"{golden.name} differs (TANDEM_UPDATE_GOLDEN=1 regenerates)"
    check_with_caddy(caddy_bin, plan, tmp_path)


def test_no_stale_golden_files() -> None:
    assert {p.name for p in GOLDEN.glob("*.Caddyfile")} == {f"{c.name}.Caddyfile" for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_formatted_as_caddy_fmt_writes_it(case: Case, tmp_path: Path, caddy_bin: str) -> None:
    """Caddy warns on every start and reload about a Caddyfile ``caddy fmt`` would change."""
    content = rendered(build(tmp_path, case))
    result = subprocess.run(
        [caddy_bin, "fmt", "-"], input=content, capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout == content


def test_the_same_routing_as_nginx(tmp_path: Path) -> None:
    """Both proxies are rendered from one ProxySpec: same prefixes, upstreams, static roots and limits."""
    case = CASES[0]
    caddy = build(tmp_path, case)
    nginx = build(tmp_path, replace(case, cli={}))
    assert caddy.proxy is not None and nginx.proxy is not None
    for field in ("ws_prefixes", "asgi_prefixes", "static_locations", "wsgi_upstream", "asgi_upstream"):
        assert getattr(caddy.proxy, field) == getattr(nginx.proxy, field), field
    content = rendered(caddy)
    assert 'handle "/ws/chat/*"' in content and 'handle "/ws/echo/*"' in content
    assert "max_size 10485760" in content  # --max-body-size 10m, as nginx's client_max_body_size
    assert "read_timeout 60s" in content  # longer than the 20 s ping interval, as nginx's
    assert "stream_close_delay" in content
    assert [p.role for p in caddy.processes][-1] == "caddy"
    assert caddy.files[0].path == "caddy/Caddyfile"


def test_hostile_paths_stay_one_token(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "managed-hostile-paths")
    content = rendered(build(tmp_path, case))
    roots = [line.strip() for line in content.splitlines() if line.strip().startswith("root * ")]
    assert roots == [
        "root * " + caddy_quote(f"{tmp_path / case.static_dir}/"),
        "root * " + caddy_quote(f"{tmp_path / case.media_dir}/"),
    ]
    assert '\\"q\\"' in roots[0]


@pytest.mark.parametrize("bad", ["{$HOME}", "{env.SECRET}", "a}b", "back\\slash", "new\nline"])
@pytest.mark.parametrize("setting", ["static_root", "media_root"])
def test_what_a_caddyfile_cannot_carry_is_refused(tmp_path: Path, bad: str, setting: str) -> None:
    case = CASES[0]
    project = replace(make_project(tmp_path, case), **{setting: tmp_path / f"x{bad}"})
    with pytest.raises(ConfigError):
        build(tmp_path, case, project)


@pytest.mark.parametrize("value", ["", "plain", CADDY_HOSTILE, '"', "a b#c"])
def test_quote_round_trips_through_caddys_lexer(value: str) -> None:
    """What caddy_quote writes is one token that Caddy's lexer reads back as the value (only \\" unescapes)."""
    quoted = caddy_quote(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert re.sub(r'\\"', '"', quoted[1:-1]) == value


def test_path_prefix_refuses_matcher_syntax() -> None:
    assert caddy_path_prefix("/ws/") == '"/ws/*"'
    for prefix in ("/ws/*/", "/a%20b/"):
        with pytest.raises(ConfigError):
            caddy_path_prefix(prefix)


def test_upstreams() -> None:
    assert caddy_upstream("unix:/run/t/gunicorn.sock") == '"unix//run/t/gunicorn.sock"'
    assert caddy_upstream("127.0.0.1:8001") == '"127.0.0.1:8001"'


def test_comment_and_reindent() -> None:
    assert caddy_comment("a\n} b {") == "a?} b {"
    assert reindent("a {\n\nb {\nc\n\n}\n}\n") == "a {\n\tb {\n\t\tc\n\t}\n}\n"


def test_old_caddy_is_refused_with_what_it_lacks(tmp_path: Path) -> None:
    from tandem.errors import DependencyError
    from tandem.programs import require_caddy

    fake = tmp_path / "caddy"
    fake.write_text("#!/bin/sh\necho 'v2.6.2 h1:abc'\n")
    fake.chmod(0o755)
    config = resolve_config({"caddy": str(fake)}, {}, {})
    with pytest.raises(DependencyError, match=r"2\.6\.2.*stream_close_delay"):
        require_caddy(config, {})
