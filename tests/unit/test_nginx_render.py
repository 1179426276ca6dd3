"""Rendered nginx configs: golden files, each also accepted by the real ``nginx -t``.

The configs are built the way ``tandem serve --mode split`` and ``tandem export nginx`` build them: a
Config from ``resolve_config``, a Project, a RouteTable walked from real Channels routing objects, then
``build_plan`` (as serve and export build it). The temporary directory in a rendered config is replaced by ``@TMP@`` before
comparing. Regenerate the golden files with ``TANDEM_UPDATE_GOLDEN=1 pytest tests/unit/test_nginx_render.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from tandem import __version__
from tandem.accesslog import AccessLogTarget
from tandem.config import resolve_config
from tandem.errors import ConfigError, UsageError
from tandem.launcher import write_files
from tandem.plan import (
    Address,
    BoundSocket,
    Export,
    Managed,
    Plan,
    StaticLocation,
    build_plan,
    plan_addresses,
)
from tandem.project import INMEMORY_LAYER, ChannelLayer, Project
from tandem.proxies.nginx import nginx_comment, nginx_name, nginx_quote
from tandem.routes import RouteTable, discover_routes
from tandem.topologies import split
from tests.nginx_check import MIME_TYPES, harness, nginx_t
from tests.unit.conftest import django_asgi_app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "nginx"
UPDATE = os.environ.get("TANDEM_UPDATE_GOLDEN") == "1"
# Every character nginx's config syntax gives a meaning to, except "$" (refused, see below).
HOSTILE = 'we ird "q" it\'s; } {x} #c \\b'


pytestmark = pytest.mark.usefixtures("django_settings")


# --- real routing shapes ----------------------------------------------------------------------------------


class ChatConsumer(AsyncWebsocketConsumer):
    pass


class EchoConsumer(AsyncWebsocketConsumer):
    pass


def example_routes() -> RouteTable:
    """The example project's shape: Django for HTTP, WebSockets under ws/ behind auth and origin checks."""
    websocket = AllowedHostsOriginValidator(
        AuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
                    re_path(r"^ws/echo/$", EchoConsumer.as_asgi()),
                ]
            )
        )
    )
    return discover_routes(ProtocolTypeRouter({"http": django_asgi_app(), "websocket": websocket}))


def catch_all_routes() -> RouteTable:
    """A WebSocket route at any path: no literal prefix, so nginx must route by the Upgrade header."""
    websocket = AuthMiddlewareStack(URLRouter([path("<path:anything>", EchoConsumer.as_asgi())]))
    return discover_routes(ProtocolTypeRouter({"http": django_asgi_app(), "websocket": websocket}))


def plain_django_routes() -> RouteTable:
    return discover_routes(django_asgi_app())


# --- building a Plan the way the launcher does ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    routes: Callable[[], RouteTable]
    managed: bool = True
    cli: dict[str, object] = field(default_factory=dict)
    static_dir: str = "static files"
    media_dir: str = "media"
    allowed_hosts: tuple[str, ...] = ("testserver",)
    tcp_ports: tuple[int, int] = (18001, 18002)  # what a managed run would have bound for --internal tcp
    access_log: str | None = "common"  # a managed run's access log format (to a file here); None: off
    # A managed run's sockets carry the fds tandem bound (servers that adopt them, e.g. uvicorn, need one).
    fds: bool = False


CASES = [
    Case("managed-unix", example_routes),
    Case("managed-tcp", example_routes, cli={"internal": "tcp"}),
    Case("managed-upgrade", catch_all_routes),
    Case("managed-asgi-prefix", example_routes, cli={"asgi_prefixes": ("/sse/", "/whoami")}),
    Case("managed-no-websocket", plain_django_routes),
    Case("managed-access-log-json", example_routes, access_log="json"),
    Case("managed-access-log-combined", example_routes, access_log="combined"),
    Case("managed-no-access-log", example_routes, access_log=None),
    Case(
        "managed-hostile-paths", example_routes, static_dir=f"static {HOSTILE}", media_dir=f"media {HOSTILE}"
    ),
    Case(
        "export-unix", example_routes, managed=False, allowed_hosts=("example.com", ".example.org", "[::1]")
    ),
    Case("export-tcp", example_routes, managed=False, cli={"internal": "tcp"}),
    Case("export-upgrade", catch_all_routes, managed=False, allowed_hosts=("*",)),
    # Unified mode behind nginx (--proxy given): everything to Daphne, static and media from disk.
    Case("managed-unified", example_routes, cli={"mode": "unified", "proxy": "nginx"}),
    Case("export-unified", example_routes, managed=False, cli={"mode": "unified", "proxy": "nginx"}),
    Case("export-asgi-prefix", example_routes, managed=False, cli={"asgi_prefixes": ("/sse/",)}),
    Case(
        "export-hostile-paths",
        example_routes,
        managed=False,
        static_dir=f"s {HOSTILE}",
        media_dir=f"m {HOSTILE}",
    ),
]


def make_project(tmp: Path, case: Case) -> Project:
    return Project(
        root=tmp / "app",
        settings_module="mysite.settings",
        settings_source="test",
        asgi_app="mysite.asgi:application",
        asgi_source="test",
        wsgi_app="mysite.wsgi:application",
        wsgi_source="test",
        static_url="/static/",
        static_root=tmp / case.static_dir,
        media_url="/media/",
        media_root=tmp / case.media_dir,
        channel_layer=ChannelLayer(INMEMORY_LAYER, "settings"),
        allowed_hosts=case.allowed_hosts,
        debug=False,
        installed_apps=(),
        data_upload_max_memory_size=2621440,
    )


def make_plan(tmp: Path, case: Case, project: Project | None = None) -> Plan:
    config = resolve_config({"mode": "split", "port": 8123 if case.managed else 80, **case.cli}, {}, {})
    project = project or make_project(tmp, case)
    if not case.managed:
        return build_plan(config, project, case.routes(), Export(Path("/run/tandem"), "golden", PYTHON))
    runtime_dir = tmp / "run"
    sockets = {
        name: BoundSocket(address, fd=10 + n if case.fds else None)
        for n, (name, address) in enumerate(plan_addresses(config, runtime_dir).items())
    }
    if config.internal == "tcp":
        # A managed run binds port 0 and resolves it; stand in for that with fixed ports.
        for name, port in zip(("wsgi", "asgi"), case.tcp_ports, strict=True):
            sockets[name] = BoundSocket(Address(host="127.0.0.1", port=port))
    target = Managed(
        runtime_dir,
        sockets,
        "golden",
        PYTHON,
        # A managed --internal tcp run: nginx proves itself to the app servers with a per-run secret.
        proxy_secret="golden-secret" if config.internal == "tcp" else "",
        access_log=(
            AccessLogTarget(path=str(tmp / "access.log"), format=case.access_log) if case.access_log else None
        ),
    )
    return build_plan(config, project, case.routes(), target)


def build(tmp: Path, case: Case) -> Plan:
    return make_plan(tmp, case)


PYTHON = "/usr/bin/python3"


def rendered(plan: Plan) -> str:
    assert len(plan.files) == 1
    return plan.files[0].content


# Running as root adds the workers' "user" directive (tandem.workeruser); the golden file is the same either way.
USER_DIRECTIVE = re.compile(r"^# tandem runs as root: .*\nuser .*;\n", re.MULTILINE)


def normalise(content: str, tmp: Path) -> str:
    return USER_DIRECTIVE.sub(
        "",
        content.replace(str(tmp), "@TMP@").replace(
            f"django-tandem {__version__} ", "django-tandem @VERSION@ "
        ),
    )


# --- the real nginx -t ----------------------------------------------------------------------------------------


@pytest.fixture
def nginx(nginx_bin: str) -> str:
    """The real nginx (tests.conftest skips with the install hint when it is missing)."""
    assert MIME_TYPES.exists(), f"nginx is installed but {MIME_TYPES} is missing"
    return nginx_bin


def check_with_nginx(nginx: str, plan: Plan, tmp: Path) -> None:
    if plan.proxy is not None and plan.proxy.managed:
        write_files(plan.files, plan.runtime_dir)
        prefix = plan.runtime_dir / split.NGINX_DIR
        nginx_t(nginx, prefix / "nginx.conf")
    else:
        out = tmp / "export"
        write_files(plan.files, out)
        nginx_t(nginx, harness(tmp / "harness", out / plan.files[0].path))


# --- golden files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case, tmp_path: Path, nginx: str) -> None:
    plan = build(tmp_path, case)
    content = rendered(plan)
    golden = GOLDEN / f"{case.name}.conf"
    normalised = normalise(content, tmp_path)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(normalised)
    assert golden.exists(), f"{golden} is missing: run with TANDEM_UPDATE_GOLDEN=1 to create it"
    assert normalised == golden.read_text(), f"{golden.name} differs (TANDEM_UPDATE_GOLDEN=1 regenerates)"
    assert bool(USER_DIRECTIVE.search(content)) == (case.managed and os.geteuid() == 0)
    assert "user root;" not in content  # as root the workers switch to an unprivileged user
    check_with_nginx(nginx, plan, tmp_path)


def test_no_stale_golden_files() -> None:
    expected = {f"{case.name}.conf" for case in CASES}
    assert {p.name for p in GOLDEN.glob("*.conf")} == expected


def test_two_exported_projects_share_one_nginx(tmp_path: Path, nginx: str) -> None:
    """Upstream and map names are per project: two exports included side by side pass nginx -t."""
    includes = []
    for package in ("shop", "blog"):
        case = Case(f"export-{package}", example_routes, managed=False, allowed_hosts=(f"{package}.example",))
        project = replace(make_project(tmp_path, case), settings_module=f"{package}.settings")
        plan = make_plan(tmp_path, case, project)
        assert f"upstream tandem_{package}_wsgi" in rendered(plan)
        includes.append(tmp_path / f"{package}.conf")
        includes[-1].write_text(rendered(plan))
    nginx_t(nginx, harness(tmp_path / "harness", *includes))


# --- what the golden files rely on, stated directly ---------------------------------------------------------


def test_hostile_paths_stay_one_token(tmp_path: Path) -> None:
    """Each hostile path is one quoted token on the alias line: nothing after it became a directive."""
    case = next(c for c in CASES if c.name == "managed-hostile-paths")
    content = rendered(build(tmp_path, case))
    alias_lines = [line.strip() for line in content.splitlines() if line.strip().startswith("alias ")]
    expected = [
        "alias " + nginx_quote(f"{tmp_path / case.static_dir}/") + ";",
        "alias " + nginx_quote(f"{tmp_path / case.media_dir}/") + ";",
    ]
    assert alias_lines == expected
    assert '\\"q\\"' in alias_lines[0] and "\\\\b" in alias_lines[0]


@pytest.mark.parametrize("setting", ["STATIC_ROOT", "MEDIA_ROOT"])
def test_dollar_in_a_served_directory_is_refused(tmp_path: Path, setting: str) -> None:
    case = Case("dollar", example_routes)
    project = replace(make_project(tmp_path, case), **{setting.lower(): tmp_path / "cost$HOME"})
    with pytest.raises(ConfigError) as raised:
        make_plan(tmp_path, case, project)
    message = str(raised.value)
    assert setting in message and "'$'" in message and "cost$HOME" in message
    assert raised.value.exit_code == 2


def test_control_character_in_a_route_is_refused(tmp_path: Path) -> None:
    def routes() -> RouteTable:
        websocket = URLRouter([path("ws/a\nb/", EchoConsumer.as_asgi())])
        return discover_routes(ProtocolTypeRouter({"websocket": websocket}))

    with pytest.raises(ConfigError, match="control character"):
        build(tmp_path, Case("newline", routes))


def test_comment_text_cannot_start_a_directive() -> None:
    assert nginx_comment("ws/a\n} server { listen 9;") == "ws/a?} server { listen 9;"


def test_nginx_name() -> None:
    assert nginx_name("tandem_my-site.v2") == "tandem_my_site_v2"
    assert nginx_name("---") == "tandem"


def test_relative_roots_are_relative_to_the_project(tmp_path: Path) -> None:
    case = Case("relative", example_routes)
    project = replace(make_project(tmp_path, case), static_root=Path("collected"), static_url="/assets")
    plan = make_plan(tmp_path, case, project)
    assert plan.proxy is not None
    static = plan.proxy.static_locations[0]
    assert static == StaticLocation(url="/assets/", root=f"{tmp_path / 'app' / 'collected'}/", expires="1h")


def test_asgi_prefixes_are_deduplicated_against_websocket_prefixes(tmp_path: Path, nginx: str) -> None:
    case = Case("dupes", example_routes, cli={"asgi_prefixes": ("/ws/chat/", "/sse/", "/sse/")})
    plan = build(tmp_path, case)
    assert plan.proxy is not None
    assert plan.proxy.asgi_prefixes == ("/sse/",)
    check_with_nginx(nginx, plan, tmp_path)  # a duplicate location would make nginx -t fail


@pytest.mark.parametrize("prefix", ["/static/", "/media"])
def test_asgi_prefix_on_a_static_url_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(UsageError, match=f"--asgi-prefix {prefix} is the"):
        build(tmp_path, Case("clash", example_routes, cli={"asgi_prefixes": (prefix,)}))


def test_export_with_tcp_names_the_classic_ports(tmp_path: Path) -> None:
    plan = build(tmp_path, Case("tcp", example_routes, managed=False, cli={"internal": "tcp"}))
    assert plan.proxy is not None
    assert (plan.proxy.wsgi_upstream, plan.proxy.asgi_upstream) == ("127.0.0.1:8000", "127.0.0.1:8001")


def test_ws_read_timeout_follows_the_ping_interval(tmp_path: Path) -> None:
    case = Case("ping", example_routes, cli={"ping_interval": 40})
    content = rendered(build(tmp_path, case))
    assert "proxy_read_timeout 120s;" in content  # 3 x the ping interval, at least 60 s
    assert "Daphne's ping interval (40 s)" in content


@pytest.mark.parametrize(
    ("size", "expected"),
    [("10m", 10 * 1024**2), ("512k", 512 * 1024), ("1G", 1024**3), ("0", 0), ("123", 123)],
)
def test_body_size(size: str, expected: int) -> None:
    assert split.body_size_bytes(size) == expected


@pytest.mark.parametrize("size", ["10mb", "10m; return 200", "", "-1", "1.5m"])
def test_body_size_that_nginx_would_not_read_is_refused(size: str) -> None:
    with pytest.raises(ConfigError, match="is not an nginx size"):
        split.body_size_bytes(size)


def test_body_size_below_the_projects_upload_limit_is_a_warning(tmp_path: Path) -> None:
    case = Case("small", example_routes, cli={"max_body_size": "1m"})
    project = replace(make_project(tmp_path, case), data_upload_max_memory_size=2 * 1024**2)
    plan = make_plan(tmp_path, case, project)
    assert any("client_max_body_size 1m is below DATA_UPLOAD_MAX_MEMORY_SIZE" in w for w in plan.warnings)
    assert not any("client_max_body_size" in w for w in build(tmp_path, CASES[0]).warnings)


def test_http_consumers_routed_by_the_asgi_app_go_to_daphne(tmp_path: Path, nginx: str) -> None:
    """A URLRouter under "http" (server-sent events, long polling) can only be served by Daphne."""
    from channels.generic.http import AsyncHttpConsumer

    class Events(AsyncHttpConsumer):  # type: ignore[misc]
        pass

    def routes() -> RouteTable:
        http = URLRouter([path("events/stream/", Events.as_asgi()), re_path(r"", django_asgi_app())])
        websocket = URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])
        return discover_routes(ProtocolTypeRouter({"http": http, "websocket": websocket}))

    plan = build(tmp_path, Case("sse", routes))
    assert plan.proxy is not None
    assert plan.proxy.asgi_prefixes == ("/events/stream/",)
    assert 'location ^~ "/events/stream/"' in rendered(plan)
    check_with_nginx(nginx, plan, tmp_path)


@pytest.mark.parametrize(
    ("cli", "module", "wsgi", "asgi"),
    [
        ({"http_server": "granian"}, "granian", "granian", "daphne"),
        ({"ws_server": "uvicorn"}, "uvicorn", "gunicorn", "uvicorn"),
        ({"ws_server": "gunicorn-asgi"}, "gunicorn", "gunicorn", "gunicorn-asgi"),
        ({"mode": "unified", "proxy": "nginx", "server": "uvicorn"}, "uvicorn", None, "uvicorn"),
        ({"mode": "unified", "proxy": "nginx", "server": "gunicorn-asgi"}, "gunicorn", None, "gunicorn-asgi"),
    ],
    ids=["granian", "uvicorn", "gunicorn-asgi", "unified-uvicorn", "unified-gunicorn-asgi"],
)
def test_access_log_names_the_server_that_answered(
    cli: dict[str, object], module: str, wsgi: str | None, asgi: str, tmp_path: Path, nginx: str
) -> None:
    """The managed nginx's access line names the upstream that answered: the server that runs in each
    pool (--http-server, --ws-server, unified mode's --server), not always gunicorn and daphne."""
    pytest.importorskip(module)
    plan = build(tmp_path, Case("servers", example_routes, cli=cli, fds=True))
    content = rendered(plan)
    labels = dict(
        re.findall(r"^\s+tandem_mysite_(wsgi|asgi)\s+(\S+);$", content.split("_upstream_name {")[1], re.M)
    )
    assert labels["asgi"] == asgi, content
    assert labels.get("wsgi") == wsgi, content  # unified mode behind nginx has no WSGI pool
    check_with_nginx(nginx, plan, tmp_path)
