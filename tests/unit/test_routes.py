"""Route discovery over real Channels routing objects, and literal prefixes of URL patterns.

Runs with or without pytest-django: Django settings are configured (tests/unit/conftest.py) when nothing
configured them.
"""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.middleware import BaseMiddleware
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator
from channels.sessions import SessionMiddlewareStack
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from tandem.patterns import literal_prefix
from tandem.routes import Route, RouteTable, discover_routes, overlapping_http_urls
from tests.unit.conftest import django_asgi_app

SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.usefixtures("django_settings")


# --- literal_prefix -------------------------------------------------------------------------------------

LITERAL_PREFIX_CASES = [
    # path() routes
    ("ws/chat/<str:room>/", False, "/ws/chat/"),
    ("ws/chat/", False, "/ws/chat/"),
    ("<slug:page>/", False, "/"),
    ("api.v1/<int:id>/", False, "/api.v1/"),  # path() text is literal: "." is a dot
    ("ws/chat", False, "/ws/chat"),
    ("/ws/", False, "/ws/"),  # one "/" even if the pattern wrongly starts with one
    ("", False, "/"),
    # re_path() regexes
    (r"^ws/chat/(?P<room>\w+)/$", True, "/ws/chat/"),
    (r"ws/chat/(?P<room>\w+)/$", True, "/ws/chat/"),
    (r"\Aws/x\Z", True, "/ws/x"),
    (r"^ws/x/$", True, "/ws/x/"),
    (r"^ws/(chat|game)/", True, "/ws/"),
    (r"^ws/ch(at|ess)/", True, "/ws/ch"),  # mid-segment is still a correct prefix match
    (r"^ws/chat/$|^ws/game/$", True, "/ws/"),  # top-level alternation: common prefix of the branches
    (r"^ws/[|]/$|^ws/x/$", True, "/ws/"),  # "|" inside a class does not split
    (r"^api\.v1/", True, "/api.v1/"),
    (r"^ws\/chat\-room/", True, "/ws/chat-room/"),
    (r"^ws/\d+/", True, "/ws/"),
    (r"^ws/[a-z]+/", True, "/ws/"),
    (r"^ws/chat/?$", True, "/ws/chat"),  # the optional "/" is not part of the prefix
    (r"^ws/x*", True, "/ws/"),
    (r"^ws/x{2}/", True, "/ws/"),
    (r"^ws/+", True, "/ws/"),  # at least one "/"
    (r"^ws.x/", True, "/ws"),
    (r"(?i)^ws/", True, "/"),  # case-insensitive: no literal prefix
    (r"^.*$", True, "/"),
    (r"^(?P<path>.*)$", True, "/"),
    ("^", True, "/"),
    ("", True, "/"),
]


@pytest.mark.parametrize(("pattern", "regex", "expected"), LITERAL_PREFIX_CASES)
def test_literal_prefix(pattern: str, regex: bool, expected: str) -> None:
    assert literal_prefix(pattern, regex=regex) == expected


# --- real routing objects -------------------------------------------------------------------------------


class ChatConsumer(AsyncWebsocketConsumer):
    pass


class GameConsumer(AsyncWebsocketConsumer):
    pass


class EventsConsumer(AsyncHttpConsumer):
    async def handle(self, body: bytes) -> None:
        await self.send_response(200, b"", headers=[(b"Content-Type", b"text/event-stream")])


def chat_name() -> str:
    return f"{ChatConsumer.__module__}.ChatConsumer"


def game_name() -> str:
    return f"{GameConsumer.__module__}.GameConsumer"


def ws_router() -> URLRouter:
    return URLRouter(
        [
            path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
            path("ws/game/<int:game>/", GameConsumer.as_asgi()),
        ]
    )


def protocols(websocket: object | None = None, **more: object) -> ProtocolTypeRouter:
    mapping: dict[str, object] = {"http": django_asgi_app()}
    if websocket is not None:
        mapping["websocket"] = websocket
    mapping.update(more)
    return ProtocolTypeRouter(mapping)


class TokenMiddleware(BaseMiddleware):
    """A user middleware in the documented style: subclass BaseMiddleware, call self.inner."""


class AppAttributeMiddleware:
    """A plain ASGI middleware keeping its inner app as ``self.app``: tandem does not know that name."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        raise NotImplementedError


def closure_middleware(inner: Any) -> Callable[..., Any]:
    async def app(scope: object, receive: object, send: object) -> Any:
        return await inner(scope, receive, send)

    return app


def looping_middleware() -> BaseMiddleware:
    middleware = BaseMiddleware(None)
    middleware.inner = middleware
    return middleware


@dataclass(frozen=True)
class Shape:
    build: Callable[[], object]
    routes: tuple[Route, ...] = ()
    prefixes: tuple[str, ...] = ()
    by_upgrade: bool = False
    warnings: tuple[str, ...] = ()  # substrings, one per expected warning


def ws(pattern: str, prefix: str, target: str) -> Route:
    return Route("websocket", pattern, prefix, target)


CHAT_AND_GAME = (
    ws("ws/chat/<str:room>/", "/ws/chat/", "{chat}"),
    ws("ws/game/<int:game>/", "/ws/game/", "{game}"),
)
CHAT_AND_GAME_PREFIXES = ("/ws/chat/", "/ws/game/")


def _nested_two_levels() -> object:
    return protocols(
        URLRouter(
            [
                path(
                    "ws/",
                    URLRouter(
                        [
                            path("chat/", URLRouter([path("<str:room>/", ChatConsumer.as_asgi())])),
                            path("game/<int:game>/", GameConsumer.as_asgi()),
                        ]
                    ),
                )
            ]
        )
    )


def _nested_regex() -> object:
    inner = URLRouter([re_path(r"^chat/(?P<room>\w+)/$", ChatConsumer.as_asgi())])
    return protocols(URLRouter([re_path(r"^ws/", inner)]))


def _static_files_around_protocols() -> object:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(protocols(ws_router()))  # what `runserver` with daphne serves


def _with_channel_entry() -> object:
    return protocols(ws_router(), channel=ChannelNameRouter({"thumbnails": ChatConsumer.as_asgi()}))


SHAPES: dict[str, Shape] = {
    "plain-django": Shape(django_asgi_app),
    "no-websocket-entry": Shape(protocols),
    "url-router": Shape(lambda: protocols(ws_router()), CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES),
    "auth-stack": Shape(
        lambda: protocols(AuthMiddlewareStack(ws_router())), CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES
    ),
    "session-stack": Shape(
        lambda: protocols(SessionMiddlewareStack(ws_router())), CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES
    ),
    "allowed-hosts-auth": Shape(
        lambda: protocols(AllowedHostsOriginValidator(AuthMiddlewareStack(ws_router()))),
        CHAT_AND_GAME,
        CHAT_AND_GAME_PREFIXES,
    ),
    "origin-validator-star": Shape(
        lambda: protocols(OriginValidator(ws_router(), ["*"])), CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES
    ),
    "user-base-middleware": Shape(
        lambda: protocols(TokenMiddleware(AuthMiddlewareStack(ws_router()))),
        CHAT_AND_GAME,
        CHAT_AND_GAME_PREFIXES,
    ),
    "static-files-handler-root": Shape(_static_files_around_protocols, CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES),
    "channel-entry-ignored": Shape(_with_channel_entry, CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES),
    "unknown-protocol-entry": Shape(
        lambda: protocols(ws_router(), lifespan=django_asgi_app()),
        CHAT_AND_GAME,
        CHAT_AND_GAME_PREFIXES,
        warnings=("entry 'lifespan' ignored",),
    ),
    "self-app-middleware-is-opaque": Shape(
        lambda: protocols(AppAttributeMiddleware(ws_router())),
        (ws("", "/", f"{AppAttributeMiddleware.__module__}.AppAttributeMiddleware"),),
        ("/",),
        by_upgrade=True,
        warnings=("AppAttributeMiddleware (it exposes no `.inner` or `.application`",),
    ),
    "closure-middleware-is-opaque": Shape(
        lambda: protocols(closure_middleware(ws_router())),
        (ws("", "/", f"{__name__}.closure_middleware.<locals>.app"),),
        ("/",),
        by_upgrade=True,
        warnings=("a function that closes over other objects",),
    ),
    "middleware-loop": Shape(
        lambda: protocols(looping_middleware()),
        (ws("", "/", "channels.middleware.BaseMiddleware"),),
        ("/",),
        by_upgrade=True,
        warnings=("middleware chain loops", "cannot see inside channels.middleware.BaseMiddleware"),
    ),
    "nested-two-levels": Shape(_nested_two_levels, CHAT_AND_GAME, CHAT_AND_GAME_PREFIXES),
    "re-path": Shape(
        lambda: protocols(
            URLRouter(
                [
                    re_path(r"^ws/chat/(?P<room>\w+)/$", ChatConsumer.as_asgi()),
                    re_path(r"ws/game/(?P<game>\d+)/$", GameConsumer.as_asgi()),  # Channels tutorial style
                ]
            )
        ),
        (
            ws(r"^ws/chat/(?P<room>\w+)/$", "/ws/chat/", "{chat}"),
            ws(r"ws/game/(?P<game>\d+)/$", "/ws/game/", "{game}"),
        ),
        CHAT_AND_GAME_PREFIXES,
    ),
    "nested-re-path": Shape(
        _nested_regex, (ws(r"^ws/chat/(?P<room>\w+)/$", "/ws/chat/", "{chat}"),), ("/ws/chat/",)
    ),
    "common-prefix-collapses": Shape(
        lambda: protocols(
            URLRouter([path("ws/", ChatConsumer.as_asgi()), path("ws/game/<int:g>/", GameConsumer.as_asgi())])
        ),
        (ws("ws/", "/ws/", "{chat}"), ws("ws/game/<int:g>/", "/ws/game/", "{game}")),
        ("/ws/",),
    ),
    "catch-all-websocket": Shape(
        lambda: protocols(
            URLRouter(
                [
                    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
                    re_path(r"^(?P<path>.*)$", GameConsumer.as_asgi()),
                ]
            )
        ),
        (ws("ws/chat/<str:room>/", "/ws/chat/", "{chat}"), ws(r"^(?P<path>.*)$", "/", "{game}")),
        ("/",),
        by_upgrade=True,
    ),
    "unanchored-regex": Shape(
        lambda: protocols(URLRouter([re_path(r"ws/chat/", ChatConsumer.as_asgi())])),
        (ws("ws/chat/", "/", "{chat}"),),
        ("/",),
        by_upgrade=True,
        warnings=("has no leading '^'",),
    ),
    "leading-slash": Shape(
        lambda: protocols(URLRouter([path("/ws/chat/", ChatConsumer.as_asgi())])),
        (ws("/ws/chat/", "/ws/chat/", "{chat}"),),
        ("/ws/chat/",),
        warnings=("never matches",),
    ),
    "middleware-inside-path-makes-endpoint": Shape(
        lambda: protocols(
            URLRouter([path("ws/", AuthMiddlewareStack(URLRouter([path("chat/", ChatConsumer.as_asgi())])))])
        ),
        (ws("ws/chat/", "/ws/chat/", "{chat}"),),
        ("/ws/chat/",),
        warnings=("routes inside are unreachable",),
    ),
    "bare-consumer": Shape(
        lambda: protocols(ChatConsumer.as_asgi()),
        (ws("", "/", "{chat}"),),
        ("/",),
        by_upgrade=True,
        warnings=("a consumer with no URLRouter in front of it",),
    ),
    "bare-consumer-behind-auth": Shape(
        lambda: protocols(AllowedHostsOriginValidator(AuthMiddlewareStack(ChatConsumer.as_asgi()))),
        (ws("", "/", "{chat}"),),
        ("/",),
        by_upgrade=True,
        warnings=("a consumer with no URLRouter in front of it",),
    ),
    "django-handler-as-websocket": Shape(
        lambda: protocols(django_asgi_app()), warnings=("is Django's ASGIHandler, which rejects WebSocket",)
    ),
    "opaque-root": Shape(
        lambda: closure_middleware(protocols(ws_router())),
        (ws("", "/", f"{__name__}.closure_middleware.<locals>.app"),),
        ("/",),
        by_upgrade=True,
        warnings=("application: cannot see inside",),
    ),
    "http-router-with-sse": Shape(
        lambda: protocols(
            ws_router(),
            http=URLRouter(
                [path("events/<str:room>/", EventsConsumer.as_asgi()), re_path(r"", django_asgi_app())]
            ),
        ),
        (  # in the ProtocolTypeRouter's order: "http" came first
            Route("http", "events/<str:room>/", "/events/", f"{EventsConsumer.__module__}.EventsConsumer"),
            *CHAT_AND_GAME,
        ),
        CHAT_AND_GAME_PREFIXES,
    ),
    "http-sse-only": Shape(
        lambda: protocols(http=AuthMiddlewareStack(URLRouter([path("events/", EventsConsumer.as_asgi())]))),
        (Route("http", "events/", "/events/", f"{EventsConsumer.__module__}.EventsConsumer"),),
    ),
    "http-opaque": Shape(
        lambda: protocols(http=EventsConsumer.as_asgi()),
        warnings=("ProtocolTypeRouter['http']: cannot see inside",),
    ),
}


def _resolve(route: Route) -> Route:
    target = route.target.format(chat=chat_name(), game=game_name())
    return Route(route.protocol, route.pattern, route.prefix, target)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_discover_routes(shape: Shape) -> None:
    table = discover_routes(shape.build())

    assert table.routes == tuple(_resolve(route) for route in shape.routes)
    assert table.websocket_prefixes == shape.prefixes
    assert table.route_by_upgrade is shape.by_upgrade
    assert len(table.warnings) == len(shape.warnings), table.warnings
    for expected, warning in zip(shape.warnings, table.warnings, strict=True):
        assert expected in warning


def test_for_protocol_splits_websocket_and_http() -> None:
    table = discover_routes(SHAPES["http-router-with-sse"].build())

    assert [route.pattern for route in table.for_protocol("websocket")] == [
        "ws/chat/<str:room>/",
        "ws/game/<int:game>/",
    ]
    assert [route.prefix for route in table.for_protocol("http")] == ["/events/"]
    assert table.for_protocol("lifespan") == ()


@pytest.mark.parametrize(
    ("prefixes", "minimal", "by_upgrade"),
    [
        ((), (), False),
        (("/ws/chat/", "/ws/", "/api/ws/"), ("/api/ws/", "/ws/"), False),
        (("/ws/chat/", "/ws/chat/", "/ws/game/"), ("/ws/chat/", "/ws/game/"), False),
        (("/ws/ch", "/ws/chat/"), ("/ws/ch",), False),
        (("/ws/", "/"), ("/",), True),
    ],
)
def test_route_table_prefixes(prefixes: tuple[str, ...], minimal: tuple[str, ...], by_upgrade: bool) -> None:
    table = RouteTable(tuple(ws("p", prefix, "t") for prefix in prefixes), ())

    assert table.websocket_prefixes == minimal
    assert table.route_by_upgrade is by_upgrade


def test_http_route_without_prefix_neither_makes_a_websocket_prefix_nor_upgrade_routing() -> None:
    table = RouteTable((Route("http", r"^.*$", "/", "sse.Events"),), ())

    assert table.websocket_prefixes == ()
    assert table.route_by_upgrade is False


def test_importing_routes_imports_neither_channels_nor_django() -> None:
    code = (
        "import sys; sys.modules['channels'] = None; import tandem.routes; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(SRC)}, timeout=60)


# --- overlapping_http_urls -------------------------------------------------------------------------------


def view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def urlconf(*patterns: object) -> types.ModuleType:
    module = types.ModuleType("tandem_test_urls")
    module.urlpatterns = list(patterns)  # type: ignore[attr-defined]
    return module


def ws_table() -> RouteTable:
    """One WebSocket prefix, /ws/."""
    return discover_routes(protocols(URLRouter([re_path(r"^ws/(?P<name>\w+)/$", ChatConsumer.as_asgi())])))


def test_http_url_under_websocket_prefix_is_reported() -> None:
    urls = urlconf(path("", view), path("about/", view), path("ws/status/", view))

    (warning,) = overlapping_http_urls(ws_table(), urls)

    assert "'ws/status/'" in warning
    assert "/ws/" in warning
    assert r"'^ws/(?P<name>\w+)/$'" in warning  # names the websocket route too
    assert "sends its requests to Daphne" in warning


def test_no_overlap_gives_no_warnings() -> None:
    urls = urlconf(path("", view), path("about/", view), re_path(r"^api/v1/$", view), path("wsx/", view))

    assert overlapping_http_urls(discover_routes(protocols(ws_router())), urls) == ()
    assert overlapping_http_urls(discover_routes(django_asgi_app()), urls) == ()


def test_variable_http_url_that_can_reach_the_websocket_prefix_is_reported() -> None:
    urls = urlconf(path("<slug:page>/", view), re_path(r"^(?P<path>.*)$", view), re_path(r"^about/", view))

    warnings = overlapping_http_urls(ws_table(), urls)

    assert len(warnings) == 2
    assert "'<slug:page>/' (prefix /) can also match paths under the websocket prefix /ws/" in warnings[0]
    assert "'^(?P<path>.*)$'" in warnings[1]


def test_each_url_is_reported_once_against_the_minimal_prefixes() -> None:
    table = discover_routes(SHAPES["common-prefix-collapses"].build())  # /ws/ covers /ws/game/

    (warning,) = overlapping_http_urls(table, urlconf(path("ws/game/scores/", view)))

    assert "under the websocket prefix /ws/ ('ws/', 'ws/game/<int:g>/')" in warning


def test_included_urls_are_joined() -> None:
    urls = urlconf(path("api/", include([path("ws/<int:id>/", view), path("items/", view)])))
    table = discover_routes(protocols(URLRouter([path("api/ws/", ChatConsumer.as_asgi())])))

    (warning,) = overlapping_http_urls(table, urls)

    assert "'api/ws/<int:id>/' (/api/ws/) is under the websocket prefix /api/ws/" in warning


def test_http_consumer_prefix_is_checked() -> None:
    urls = urlconf(path("events/feed/", view), path("eventsx/", view))

    (warning,) = overlapping_http_urls(discover_routes(SHAPES["http-sse-only"].build()), urls)

    assert "'events/feed/' (/events/feed/) is under the http prefix /events/" in warning


def test_upgrade_routing_sends_no_plain_http_to_daphne() -> None:
    table = discover_routes(SHAPES["catch-all-websocket"].build())
    assert table.route_by_upgrade

    assert overlapping_http_urls(table, urlconf(path("ws/status/", view), path("", view))) == ()


def test_urlconf_by_dotted_name_and_by_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.urls.resolvers import RegexPattern, URLResolver

    module = urlconf(path("ws/status/", view))
    monkeypatch.setitem(sys.modules, module.__name__, module)

    by_name = overlapping_http_urls(ws_table(), module.__name__)
    by_resolver = overlapping_http_urls(ws_table(), URLResolver(RegexPattern(r"^/"), module))

    assert len(by_name) == 1
    assert by_name == by_resolver


def test_urlconf_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="urlconf must be"):
        overlapping_http_urls(ws_table(), 42)
