"""Pure parts of the checks, on real objects: version parsing, group detection on real consumer classes,
origin-validation walks over real Channels routers, CSRF origin matching, Redis host entries.

Each check end to end, against real settings modules, is in tests/integration/test_checks_cli.py.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.urls import path, re_path

from tandem.checks.apps import DAPHNE_MINIMUM, is_prerelease, parse_version
from tandem.checks.context import resolve_qualified
from tandem.checks.layers import redact, uses_groups
from tandem.checks.security import _trusted, websocket_stacks


@pytest.mark.parametrize(
    ("text", "numbers", "pre"),
    [
        ("4.2.2", (4, 2, 2), False),
        ("4.2.3", (4, 2, 3), False),
        ("4.1", (4, 1, 0), False),
        ("4.2.2rc1", (4, 2, 2), True),
        ("4.2.2.dev3", (4, 2, 2), True),
        ("10.0.0", (10, 0, 0), False),
        ("garbage", (), False),
    ],
)
def test_parse_version(text: str, numbers: tuple[int, ...], pre: bool) -> None:
    assert parse_version(text) == numbers
    assert is_prerelease(text) is pre


def test_minimum_is_the_fixed_release() -> None:
    assert parse_version("4.2.1") < DAPHNE_MINIMUM <= parse_version("4.2.2")


class Joins(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add("g", self.channel_name)
        await self.accept()


class InheritsJoin(Joins):
    async def receive_json(self, content: object, **kwargs: object) -> None:
        await self.send_json(content)


class Declares(AsyncWebsocketConsumer):
    groups = ["news"]


class Plain(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)


class NoLayer(Joins):
    channel_layer_alias = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("consumer", "expected"),
    [(Joins, True), (InheritsJoin, True), (Declares, True), (Plain, False), (NoLayer, False)],
)
def test_uses_groups(consumer: type, expected: bool) -> None:
    assert uses_groups(consumer) is expected


def test_resolve_qualified_finds_nested_names() -> None:
    assert resolve_qualified(f"{__name__}.Joins") is Joins
    assert resolve_qualified("tandem.checks.layers.uses_groups") is uses_groups
    assert resolve_qualified(f"{__name__}.Nope") is None
    assert resolve_qualified("no_such_package.x") is None


def _router() -> URLRouter:
    return URLRouter([path("ws/a/", Plain.as_asgi()), re_path(r"^ws/b/$", Joins.as_asgi())])


def test_validated_stack_with_cookies() -> None:
    app = ProtocolTypeRouter(
        {"websocket": OriginValidator(CookieMiddleware(SessionMiddleware(_router())), ["chat.example.com"])}
    )
    stacks = websocket_stacks(app)
    assert [s.pattern for s in stacks] == ["ws/a/", "^ws/b/$"]
    assert all(s.validated and s.cookie_auth for s in stacks)
    origin = urlparse("https://chat.example.com")
    assert all(v.valid_origin(origin) for s in stacks for v in s.validators)
    assert not stacks[0].validators[0].valid_origin(urlparse("https://evil.example"))


def test_unvalidated_and_wildcard_stacks() -> None:
    open_app = ProtocolTypeRouter({"websocket": CookieMiddleware(_router())})
    assert [(s.validated, s.cookie_auth) for s in websocket_stacks(open_app)] == [
        (False, True),
        (False, True),
    ]
    wildcard = ProtocolTypeRouter({"websocket": OriginValidator(_router(), ["*"])})
    assert not any(s.validated for s in websocket_stacks(wildcard))


def test_validator_on_one_nested_route_only() -> None:
    inner = URLRouter(
        [path("x/", OriginValidator(Plain.as_asgi(), ["a.example"])), path("y/", Plain.as_asgi())]
    )
    stacks = websocket_stacks(URLRouter([path("ws/", inner)]))
    assert {s.pattern: s.validated for s in stacks} == {"ws/x/": True, "ws/y/": False}


def test_no_websocket_entry() -> None:
    assert websocket_stacks(ProtocolTypeRouter({"http": Plain.as_asgi()})) == []


@pytest.mark.parametrize(
    ("origin", "trusted", "expected"),
    [
        ("https://chat.example.com", ["https://chat.example.com"], True),
        ("https://chat.example.com", ["https://*.example.com"], True),
        ("https://chat.example.com", ["http://*.example.com"], False),
        ("https://chat.example.com", ["https://example.com"], False),
        ("https://chat.example.com", [], False),
        ("https://chat.example.com:8443", ["https://chat.example.com"], False),
    ],
)
def test_csrf_trusted_matching(origin: str, trusted: list[str], expected: bool) -> None:
    assert _trusted(origin, trusted) is expected


def test_redact() -> None:
    assert redact("redis://user:secret@h:1/2") == "redis://user:***@h:1/2"
    assert redact("redis://h:1/2") == "redis://h:1/2"


def test_new_config_options() -> None:
    """public_url and diagnostic_token: settings.TANDEM keys, TANDEM_* variables, validated once."""
    from tandem.config import resolve_config
    from tandem.errors import ConfigError

    config = resolve_config(
        {}, {"TANDEM_DIAGNOSTIC_TOKEN": "x" * 16}, {"PUBLIC_URL": "https://chat.example.com"}
    )
    assert config.public_url == "https://chat.example.com"
    assert config.diagnostic_token == "x" * 16
    assert resolve_config({}, {}, {}).diagnostic_token is None  # the endpoint is off by default
    with pytest.raises(ConfigError, match="at least 16"):
        resolve_config({}, {"TANDEM_DIAGNOSTIC_TOKEN": "short"}, {})
    with pytest.raises(ConfigError, match="http:// or https://"):
        resolve_config({}, {}, {"PUBLIC_URL": "chat.example.com"})
