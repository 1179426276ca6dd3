"""One quoting path for every value tandem writes into nginx's config (issue 12, item 4).

Property-based: paths, prefixes and hosts drawn from nginx's syntax characters (``; } { # $ " ' \\``,
newlines, tabs, spaces) end either in a clear refusal naming where the value came from, or in a config
that the real ``nginx -t`` accepts and whose directives, read back the way nginx tokenizes them
(tests/nginx_parse.py), are exactly those of the same config rendered with a harmless placeholder in the
value's place. Hypothesis runs are bounded (each example runs nginx -t).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import jinja2
import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from jinja2 import nodes

from tandem.config import resolve_config
from tandem.errors import ConfigError, UsageError
from tandem.plan import BoundSocket, Context, Plan
from tandem.project import INMEMORY_LAYER, ChannelLayer, Project
from tandem.proxies.nginx import nginx_quote
from tandem.proxies.nginx_check import check_server_block
from tandem.routes import RouteTable, discover_routes
from tandem.topologies import split
from tests.conftest import require
from tests.nginx_check import MIME_TYPES, harness, nginx_t
from tests.nginx_parse import Directive, find, parse, substitute
from tests.unit.conftest import django_asgi_app

pytestmark = pytest.mark.usefixtures("django_settings")

# Never produced by the strategies below (no "Z"), so replacing it is unambiguous.
PLACEHOLDER = "Zplaceholder9"
SYNTAX = ";{}#$\"'\\ \n\t"
# nginx's syntax characters, a few letters (so values are not all punctuation), a two-byte character
# (socket path limits are in bytes) and the regex/wildcard markers nginx gives a meaning to.
COMPONENT = st.text(alphabet=SYNTAX + "ab.é~*^-_", max_size=40)
PREFIX_TAIL = st.text(alphabet=SYNTAX + "ab./é~*^", max_size=30)
HOST = st.one_of(
    st.text(alphabet="ab1.-_", min_size=1, max_size=12),  # names nginx and Django read alike, mostly
    st.from_regex(r"\[[0-9a-f:.]{1,12}\]", fullmatch=True),  # IPv6 literals, and near misses
    st.text(alphabet=SYNTAX + "ab1.-_[]:*~", min_size=1, max_size=20),
)
SIZE = st.one_of(
    st.from_regex(r"[0-9]{1,4}[kKmMgG]?", fullmatch=True),
    st.text(alphabet=SYNTAX + "0123456789kmg.-", min_size=1, max_size=16),
)
BOUNDED = settings(max_examples=int(os.environ.get("TANDEM_HYPOTHESIS_EXAMPLES", "60")), deadline=None)


class EchoConsumer(AsyncWebsocketConsumer):
    pass


@pytest.fixture(scope="module")
def routes(django_settings: None) -> RouteTable:
    websocket = URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])
    return discover_routes(ProtocolTypeRouter({"http": django_asgi_app(), "websocket": websocket}))


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    """A short directory: a unix socket path holds 107 bytes, and pytest's tmp_path is long."""
    directory = Path(tempfile.mkdtemp(prefix="tq", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx() -> str:
    """The real nginx, once per module (hypothesis reuses fixtures across examples)."""
    binary = require("nginx", "nginx-light")
    assert MIME_TYPES.exists(), f"nginx is installed but {MIME_TYPES} is missing"
    return binary


def build(
    base: Path,
    routes: RouteTable,
    *,
    managed: bool,
    runtime: str = "run",
    static: str = "static",
    asgi_prefixes: tuple[str, ...] = (),
    hosts: tuple[str, ...] = ("example.com",),
    max_body_size: str = "10m",
) -> Plan:
    """A split Plan as serve (managed) or export builds it, with the values under test put in."""
    config = resolve_config(
        {"mode": "split", "port": 8123, "asgi_prefixes": asgi_prefixes}, {}, {"MAX_BODY_SIZE": max_body_size}
    )
    runtime_dir = base / runtime
    project = Project(
        root=base / "app",
        settings_module="mysite.settings",
        settings_source="test",
        asgi_app="mysite.asgi:application",
        asgi_source="test",
        wsgi_app="mysite.wsgi:application",
        wsgi_source="test",
        static_url="/static/",
        static_root=base / static,
        media_url="/media/",
        media_root=base / "media",
        channel_layer=ChannelLayer(INMEMORY_LAYER, "settings"),
        allowed_hosts=hosts,
        debug=False,
        installed_apps=(),
        data_upload_max_memory_size=None,
    )
    sockets = {name: BoundSocket(a) for name, a in split.sockets(config, runtime_dir).items()}
    ctx = Context(
        config=config,
        project=project,
        routes=routes,
        runtime_dir=runtime_dir,
        sockets=sockets,
        python="/usr/bin/python3",
        probe_token="",
        managed=managed,
    )
    return split.build(ctx)


def content(plan: Plan) -> str:
    (file,) = plan.files
    return file.content


def accepted_by_nginx(nginx: str, plan: Plan, work: Path) -> None:
    """The real nginx -t: the managed config as serve runs it, an export inside a minimal nginx.conf."""
    if plan.proxy is not None and plan.proxy.managed:
        prefix = plan.runtime_dir / split.NGINX_DIR
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(content(plan))
        nginx_t(nginx, prefix / "nginx.conf")
        shutil.rmtree(plan.runtime_dir, ignore_errors=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "tandem.conf").write_text(content(plan))
        nginx_t(nginx, harness(work / "harness", work / "tandem.conf"))


def refusal_or_exact(
    make: Callable[[str], Plan], value: str, *, refused_because: str | None, names: str
) -> Plan | None:
    """Either tandem refuses ``value`` (and only for the reason the caller expects, naming the option or
    setting), or the config it renders parses to exactly the placeholder render with ``value`` put back.
    Returns the plan to hand to nginx -t, None after a refusal."""
    try:
        plan = make(value)
    except (ConfigError, UsageError) as error:
        event("refused")
        assert refused_because, f"{value!r} was refused, but nginx could carry it: {error}"
        assert names in str(error), f"the refusal does not name {names}: {error}"
        return None
    event("rendered and parsed back")
    assert refused_because is None, f"{value!r} was accepted, but it should be refused: {refused_because}"
    intended = substitute(parse(content(make(PLACEHOLDER))), PLACEHOLDER, value)
    assert parse(content(plan)) == intended
    return plan


def unquotable(text: str) -> str | None:
    if "$" in text:
        return "'$' starts an nginx variable"
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "a control character"
    return None


def socket_too_long(runtime_dir: Path) -> str | None:
    longest = len(os.fsencode(str(runtime_dir / "gunicorn.sock")))
    return f"socket path of {longest} bytes" if longest > split.UNIX_PATH_MAX else None


# --- the properties -----------------------------------------------------------------------------------------


P4_RUNTIME_DIR = "r; server 127.0.0.1:39999; #"


@pytest.mark.parametrize("managed", [True, False], ids=["serve", "export"])
@BOUNDED
@given(component=COMPONENT)
@example(component=P4_RUNTIME_DIR)
@example(component="with space")
@example(component="a\\nb")  # a backslash then n: nginx would turn an unescaped \n into a newline
def test_runtime_dir(component: str, managed: bool, base: Path, routes: RouteTable, nginx: str) -> None:
    """The runtime directory reaches nginx in the upstream servers, the pid file and the temp paths."""
    name = "r" + component  # "r": a lone "." or ".." would be normalised away by pathlib

    def make(value: str) -> Plan:
        return build(base, routes, managed=managed, runtime="r" + value)

    reason = unquotable(name) or socket_too_long(base / name)
    plan = refusal_or_exact(make, component, refused_because=reason, names="--runtime-dir")
    if plan is None:
        return
    upstreams = [d.args for d in find(parse(content(plan)), "server") if d.block is None]
    assert upstreams == [(f"unix:{base / name}/gunicorn.sock",), (f"unix:{base / name}/daphne.sock",)]
    accepted_by_nginx(nginx, plan, base / "work")


@BOUNDED
@given(component=COMPONENT)
@example(component="x; } location / { return 200; #")
def test_static_root(component: str, base: Path, routes: RouteTable, nginx: str) -> None:
    name = "s" + component

    def make(value: str) -> Plan:
        return build(base, routes, managed=True, static="s" + value)

    plan = refusal_or_exact(make, component, refused_because=unquotable(name), names="STATIC_ROOT")
    if plan is None:
        return
    aliases = [d.args for d in find(parse(content(plan)), "alias")]
    assert aliases[0] == (f"{base / name}/",)
    accepted_by_nginx(nginx, plan, base / "work")


@BOUNDED
@given(tail=PREFIX_TAIL)
@example(tail="")  # "/": would duplicate "location /"
@example(tail='sse/" { } #')
def test_asgi_prefix(tail: str, base: Path, routes: RouteTable, nginx: str) -> None:
    prefix = ("/" + tail).strip()  # tandem's option parsing strips surrounding whitespace

    def make(value: str) -> Plan:
        return build(base, routes, managed=False, asgi_prefixes=("/" + value,))

    if prefix.rstrip("/") in ("/ws/echo", "/static", "/media") and prefix != "/":
        return  # deduplicated against the WebSocket prefix, refused as a static URL: tested elsewhere
    reason = unquotable(prefix) or ("it is /, every request" if prefix == "/" else None)
    plan = refusal_or_exact(make, prefix[1:], refused_because=reason, names="--asgi-prefix")
    if plan is None:
        return
    locations = [d.args for d in find(parse(content(plan)), "location")]
    assert ("^~", prefix) in locations
    accepted_by_nginx(nginx, plan, base / "work")


@BOUNDED
@given(size=SIZE)
@example(size="10m; return 302 http://evil.example/")
@example(size=" 10m")  # what settings.TANDEM may hold: surrounding whitespace
@example(size="10m\n")
def test_max_body_size(size: str, base: Path, routes: RouteTable, nginx: str) -> None:
    """MAX_BODY_SIZE (settings.TANDEM, where nothing strips it) is the one size written into nginx's
    config: either refused naming it, or exactly the intended client_max_body_size token (surrounding
    whitespace stripped, as for every option), which nginx -t accepts."""
    plan: Plan | None
    try:
        plan = build(base, routes, managed=True, max_body_size=size)
    except (ConfigError, UsageError) as error:
        event("refused")
        assert "max_body_size" in str(error).lower(), f"the refusal does not name max_body_size: {error}"
        assert not re.fullmatch(r"\d+[kKmMgG]?", size.strip()), f"{size!r} is an nginx size but was refused"
        return
    event("rendered and parsed back")
    limits = [d.args for d in find(parse(content(plan)), "client_max_body_size")]
    assert limits and set(limits) == {(size.strip(),)}, limits  # tandem strips option values
    accepted_by_nginx(nginx, plan, base / "work")


@BOUNDED
@given(host=HOST)
@example(host="~^(?<sub>.+)\\.example\\.com$")
@example(host="example.com; return 302 http://evil.example/")
@example(host="*.example.com")
def test_allowed_hosts(host: str, base: Path, routes: RouteTable, nginx: str) -> None:
    """ALLOWED_HOSTS becomes server_name in an export: exactly those names, never a regex or wildcard
    nginx would read differently from Django."""
    if host.strip() in ("*", ""):
        return  # server_name _ (any host): tested by the golden files

    def make(value: str) -> Plan:
        return build(base, routes, managed=False, hosts=(value,))

    try:
        plan = make(host)
    except ConfigError as error:
        event("refused")
        assert "ALLOWED_HOSTS" in str(error)
        return
    assert not host.startswith("~") and "*" not in host, f"{host!r} means something else to nginx"
    plan = refusal_or_exact(make, host, refused_because=None, names="ALLOWED_HOSTS")
    assert plan is not None
    (server_name,) = find(parse(content(plan)), "server_name")
    assert server_name.args == (host,)
    accepted_by_nginx(nginx, plan, base / "work")


@pytest.mark.parametrize(
    "host", ["example.com", ".example.org", "localhost", "127.0.0.1", "[::1]", "a-b_c.d."]
)
def test_ordinary_hosts_are_kept(host: str, base: Path, routes: RouteTable) -> None:
    plan = build(base, routes, managed=False, hosts=(host,))
    assert find(parse(content(plan)), "server_name")[0].args == (host,)


# --- the template itself -------------------------------------------------------------------------------------

# Fields the template may write unquoted: numbers, flags, and values tandem itself fixes (never taken from
# the project, the command line or the environment). Anything else must go through q(), bare() or comment().
UNQUOTED_OK = {
    "spec.worker_processes",
    "spec.worker_rlimit_nofile",
    "spec.error_log_level",
    "spec.worker_connections",
    "spec.keepalive",
    "spec.keepalive_timeout",
    "spec.forwarded_proto",
    "spec.ws_read_timeout",
    "spec.ping_interval",
    "spec.managed",
    "spec.route_by_upgrade",
    "spec.access_log_json",
    "spec.access_log_buffer",  # "4k" or "32k", fixed by tandem.accesslog
    "spec.probe_token",  # tested only for truth; its value is quoted
    "spec.backlog",  # tested only for truth; its value goes through bare()
    "spec.user_directive",  # "user root;" or nothing, fixed by tandem (no name from the user in it)
    "loc.expires",
    "loc.media",
}
GUARDS = {"q", "bare", "comment", "log_format"}


def _unguarded(node: nodes.Node, guarded: bool, found: set[str]) -> None:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in GUARDS:
        guarded = True
    if isinstance(node, nodes.Filter) and (
        node.name == "q"
        or (
            node.name == "map"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and node.args[0].value == "q"
        )
    ):
        guarded = True
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        if not guarded:
            found.add(f"{node.node.name}.{node.attr}")
        return
    if isinstance(node, nodes.Name) and not guarded and node.name in ("prefix",):
        found.add(node.name)
    for child in node.iter_child_nodes():
        _unguarded(child, guarded, found)


def test_every_value_in_the_template_goes_through_the_quoting_path() -> None:
    """What the template writes: a quoted token (q), a checked bare token (bare), comment text (comment),
    or a field listed above. Jinja's own tests (``if``, ``for``) are not output and not checked."""
    import tandem.proxies

    source = (Path(tandem.proxies.__file__).parent / "templates" / "nginx.conf.j2").read_text()
    found: set[str] = set()
    for output in jinja2.Environment().parse(source).find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                _unguarded(child, False, found)
    assert found - UNQUOTED_OK == set(), "unquoted values in nginx.conf.j2: quote them with q() or bare()"


# --- export runs nginx -t ------------------------------------------------------------------------------------


def test_export_check_refuses_what_nginx_refuses(nginx: str) -> None:
    with pytest.raises(ConfigError, match=r"nginx rejected the generated config: .*unknown directive"):
        check_server_block(nginx, "server { listen 80; no_such_directive on; }\n")


def test_export_check_accepts_a_rendered_export(nginx: str, base: Path, routes: RouteTable) -> None:
    check_server_block(nginx, content(build(base, routes, managed=False)))


def test_p4_value_is_one_upstream_server(base: Path, routes: RouteTable) -> None:
    """The reported attack: an unquoted runtime dir added a second upstream server (a foreign listener)."""
    plan = build(base, routes, managed=False, runtime=P4_RUNTIME_DIR)
    tree = parse(content(plan))
    upstreams = {d.args[0]: d.block for d in tree if d.name == "upstream"}
    servers = [d for d in upstreams["tandem_mysite_wsgi"] or () if d.name == "server"]
    assert servers == [Directive("server", (f"unix:{base / P4_RUNTIME_DIR}/gunicorn.sock",))]
    assert f"server {nginx_quote(f'unix:{base / P4_RUNTIME_DIR}/gunicorn.sock')};" in content(plan)
