"""The per-connection limits: Config values, their checks, and the argv contract with tandem's Daphne."""

from __future__ import annotations

import pytest

from tandem.config import Config, resolve_config
from tandem.errors import ConfigError
from tandem.runtime.limits import Limits
from tandem.servers.daphne import daphne_limits_argv
from tandem.sizes import size_bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("512", 512),
        ("10m", 10 * 1024**2),
        ("512k", 512 * 1024),
        ("1G", 1024**3),
        (" 2m ", 2 * 1024**2),
    ],
)
def test_sizes_in_nginx_syntax(text: str, expected: int) -> None:
    assert size_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "1.5m", "10mb", "-1", "1m;", "10 m"])
def test_sizes_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        size_bytes(text)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_body_size", "ten", "not a size"),
        ("ws_write_buffer", "1.5m", "not a size"),
        ("ws_max_message_size", "big", "not a size"),
        ("header_timeout", "-1", "must not be negative"),
        ("ws_send_timeout", "-0.5", "must not be negative"),
        ("ws_max_queue", "0", "at least 1"),
    ],
)
def test_bad_limits_name_their_source(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        resolve_config({}, {f"TANDEM_{name.upper()}": value}, None)
    assert f"TANDEM_{name.upper()}" in str(raised.value)


def test_config_limits_reach_the_daphne_command_line() -> None:
    config = resolve_config({}, {"TANDEM_MAX_BODY_SIZE": "1m", "TANDEM_WS_MAX_MESSAGE_SIZE": "64k"}, None)
    argv = daphne_limits_argv(config)
    limits, rest = Limits.parse([*argv, "-u", "/run/x.sock", "app:application"])
    assert limits == Limits(max_body_size=1024**2)
    assert rest == [
        "--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536",
        "-u", "/run/x.sock", "app:application",
    ]  # fmt: skip


def test_defaults_agree_between_config_and_runtime() -> None:
    config = Config()
    limits = Limits()
    assert size_bytes(config.max_body_size) == limits.max_body_size
    assert size_bytes(config.ws_write_buffer) == limits.ws_write_buffer
    assert (config.header_timeout, config.ws_max_queue, config.ws_send_timeout) == (
        limits.header_timeout,
        limits.ws_max_queue,
        limits.ws_send_timeout,
    )
