"""Config: one precedence list (CLI > TANDEM_* environment > settings.TANDEM > defaults), every value's
source reported, every invalid value named with the place it was set.

The pure function is tested with tables; `tandem config --json` is run for real, as a subprocess, on a
small project written into tmp_path, because loading settings sets Django's process-wide state.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tandem.config import Config, env_name, resolve_config
from tandem.errors import ConfigError
from tests.conftest import clean_env, tandem_config
from tests.small_projects import SETTINGS, write_project

# --- precedence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "env", "settings", "value", "source"),
    [
        ({"procs": "3"}, {"TANDEM_PROCS": "2"}, {"PROCS": 1}, 3, "cli"),
        ({}, {"TANDEM_PROCS": "2"}, {"PROCS": 1}, 2, "TANDEM_PROCS"),
        ({}, {}, {"PROCS": 1}, 1, "settings.TANDEM"),
        ({}, {}, {}, None, "default"),
        # "auto" is a value like any other: set in the environment, it wins over settings.TANDEM.
        ({}, {"TANDEM_PROCS": "auto"}, {"PROCS": 4}, None, "TANDEM_PROCS"),
        # None from the CLI means "not given", so the next source is used.
        ({"procs": None}, {}, {"PROCS": 1}, 1, "settings.TANDEM"),
    ],
)
def test_precedence(
    cli: dict[str, object], env: dict[str, str], settings: dict[str, object], value: object, source: str
) -> None:
    config = resolve_config(cli, env, settings)
    assert config.procs == value
    assert config.sources["procs"] == source


# One valid value per option, written as the environment would hold it, and the parsed value.
VALID_TEXT: dict[str, tuple[str, Any]] = {
    "mode": ("split", "split"),
    "bind": ("::1", "::1"),
    "port": ("8123", 8123),
    "role": ("app", "app"),
    "http_port": ("9000", 9000),
    "ws_port": ("9001", 9001),
    "upstreams": ("10.0.0.1:80:81,app2", ("10.0.0.1:80:81", "app2")),
    "edge_secret": ("0123456789abcdef0123", "0123456789abcdef0123"),
    "procs": ("3", 3),
    "workers": ("5", 5),
    "allow_inmemory": ("yes", True),
    "channel_layer": ("redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/1"),
    "internal": ("tcp", "tcp"),
    "runtime_dir": ("/tmp/tandem-x", "/tmp/tandem-x"),
    "asgi": ("mysite.asgi:app", "mysite.asgi:app"),
    "wsgi": ("mysite.wsgi:app", "mysite.wsgi:app"),
    "asgi_prefixes": ("/sse/, /events/", ("/sse/", "/events/")),
    "graceful_timeout": ("2.5", 2.5),
    "ping_interval": ("15", 15),
    "ping_timeout": ("40", 40),
    "websocket_timeout": ("3600", 3600),
    "ws_read_timeout": ("90", 90),
    "max_body_size": ("20m", "20m"),
    "header_timeout": ("4.5", 4.5),
    "ws_max_message_size": ("2m", "2m"),
    "ws_max_queue": ("64", 64),
    "ws_write_buffer": ("512k", "512k"),
    "ws_send_timeout": ("3", 3.0),
    "gc_threshold": ("20000", 20000),
    "access_log": ("off", False),
    "access_log_file": ("/var/log/tandem/access.log", "/var/log/tandem/access.log"),
    "access_log_format": ("json", "json"),
    "app_access_log": ("1", True),
    "nginx": ("/usr/sbin/nginx", "/usr/sbin/nginx"),
    "nginx_user": ("www-data", "www-data"),
    "redis_server": ("/usr/bin/redis-server", "/usr/bin/redis-server"),
    "skip_checks": ("true", True),
    "keep_redis_timeouts": ("1", True),
    "probe_interval": ("0.5", 0.5),
    "probe_timeout": ("3", 3.0),
    "probe_failures": ("4", 4),
    "public_url": ("https://chat.example.com", "https://chat.example.com"),
    "diagnostic_token": ("0123456789abcdef0123", "0123456789abcdef0123"),
    # TLS needs a certificate and its key together, so alone each is parsed only in its "off" spelling
    # (test_tls.py holds the combinations).
    "proxy": ("caddy", "caddy"),
    "caddy": ("/opt/caddy/bin/caddy", "/opt/caddy/bin/caddy"),
    "trusted_proxies": ("", ()),
    "tls": ("", None),
    "tls_cert": ("", None),
    "tls_key": ("", None),
    "redirect_port": ("auto", None),
    "hsts": ("0", 0),
    "threads": ("4", 4),
    "http_server": ("granian", "granian"),
    "ws_server": ("uvicorn", "uvicorn"),
    "server": ("gunicorn-asgi", "gunicorn-asgi"),
}


def test_the_table_covers_every_option() -> None:
    assert set(VALID_TEXT) == set(Config().values())


@pytest.mark.parametrize("name", sorted(VALID_TEXT))
def test_every_option_from_each_source(name: str) -> None:
    text, parsed = VALID_TEXT[name]
    from_env = resolve_config({}, {env_name(name): text}, None)
    assert getattr(from_env, name) == parsed
    assert from_env.sources[name] == env_name(name)
    from_settings = resolve_config({}, {}, {name.upper(): text})
    assert getattr(from_settings, name) == parsed
    assert from_settings.sources[name] == "settings.TANDEM"
    from_cli = resolve_config({name: text}, {env_name(name): text}, {name.upper(): text})
    assert getattr(from_cli, name) == parsed
    assert from_cli.sources[name] == "cli"
    # Every other option keeps its default and says so.
    assert all(source == "default" for other, source in from_env.sources.items() if other != name)


def test_defaults() -> None:
    config = resolve_config({}, {}, None)
    assert config == Config()
    assert (config.mode, config.bind, config.port, config.procs) == ("unified", "127.0.0.1", 8000, None)
    assert set(config.sources.values()) == {"default"}


def test_settings_keys_in_either_case() -> None:
    assert resolve_config({}, {}, {"procs": 2}).procs == 2
    assert resolve_config({}, {}, {"PROCS": 2}).procs == 2


def test_settings_values_may_be_python_values() -> None:
    config = resolve_config(
        {}, {}, {"ALLOW_INMEMORY": True, "ASGI_PREFIXES": ["/sse/"], "GRACEFUL_TIMEOUT": 3}
    )
    assert (config.allow_inmemory, config.asgi_prefixes, config.graceful_timeout) == (True, ("/sse/",), 3.0)


def test_unrelated_environment_is_ignored() -> None:
    config = resolve_config({}, {"PORT": "1", "PROCS": "7", "TANDEMPORT": "2"}, None)
    assert config.port == 8000
    assert config.procs is None


def test_config_is_frozen() -> None:
    config = resolve_config({}, {}, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]


def test_derived_websocket_read_timeout_outlives_the_ping_interval() -> None:
    assert resolve_config({}, {}, None).proxy_read_timeout == 60
    assert resolve_config({}, {"TANDEM_PING_INTERVAL": "40"}, None).proxy_read_timeout == 120


# --- invalid values: named with their source ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "env", "settings", "expected"),
    [
        ({"procs": "x"}, {}, {}, "--procs: invalid value 'x': expected a whole number or 'auto'"),
        ({}, {"TANDEM_PORT": "abc"}, {}, "TANDEM_PORT: invalid value 'abc': expected a whole number"),
        ({}, {}, {"PORT": "eighty"}, "settings.TANDEM['PORT']: invalid value 'eighty'"),
        ({}, {}, {"PORT": True}, "settings.TANDEM['PORT']: invalid value True"),
        ({}, {"TANDEM_ALLOW_INMEMORY": "maybe"}, {}, "TANDEM_ALLOW_INMEMORY: invalid value 'maybe'"),
        ({}, {"TANDEM_GRACEFUL_TIMEOUT": "soon"}, {}, "expected a number of seconds"),
        ({}, {}, {"ASGI_PREFIXES": 5}, "settings.TANDEM['ASGI_PREFIXES']: invalid value 5"),
        ({"procs": "0"}, {}, {}, "--procs must be at least 1 (or 'auto'), not 0"),
        ({}, {"TANDEM_PROCS": "0"}, {}, "TANDEM_PROCS must be at least 1"),
        ({}, {}, {"PROCS": -2}, "settings.TANDEM['PROCS'] must be at least 1"),
        ({}, {"TANDEM_WORKERS": "0"}, {}, "TANDEM_WORKERS must be at least 1"),
        ({"port": 70000}, {}, {}, "--port must be between 0 and 65535, not 70000"),
        ({}, {"TANDEM_MODE": "fast"}, {}, "TANDEM_MODE must be one of unified, split, not 'fast'"),
        ({"internal": "pipe"}, {}, {}, "--internal must be one of unix, tcp"),
        ({"channel_layer": "localhost:6379"}, {}, {}, "--channel-layer must be a Redis URL"),
        ({}, {"TANDEM_ASGI_PREFIXES": "sse/"}, {}, "TANDEM_ASGI_PREFIXES entries must start with '/'"),
        ({"asgi_prefixes": ("sse",)}, {}, {}, "--asgi-prefix entries must start with '/'"),
        ({}, {"TANDEM_PING_INTERVAL": "0"}, {}, "TANDEM_PING_INTERVAL must be at least 1 second"),
        ({}, {}, {"PING_TIMEOUT": 0}, "settings.TANDEM['PING_TIMEOUT'] must be at least 1 second"),
        (
            {},
            {"TANDEM_WS_READ_TIMEOUT": "20"},
            {},
            "TANDEM_WS_READ_TIMEOUT is 20 s, which must be longer than the ping interval plus 2 s",
        ),
        ({}, {"TANDEM_GRACEFUL_TIMEOUT": "-1"}, {}, "TANDEM_GRACEFUL_TIMEOUT must not be negative"),
        ({"bind": " "}, {}, {}, "--bind must not be empty"),
        ({}, {"TANDEM_PROBE_TIMEOUT": "0"}, {}, "TANDEM_PROBE_TIMEOUT must be a positive number of seconds"),
        ({}, {}, {"PROBE_FAILURES": 0}, "settings.TANDEM['PROBE_FAILURES'] must be at least 1, not 0"),
        ({}, {"TANDEM_PUBLIC_URL": "chat.example.com"}, {}, "TANDEM_PUBLIC_URL must start with http://"),
        (
            {},
            {},
            {"ACCESS_LOG_FORMAT": "apache"},
            "settings.TANDEM['ACCESS_LOG_FORMAT'] must be one of common, combined, json, not 'apache'",
        ),
    ],
)
def test_invalid_value_is_named_with_its_source(
    cli: dict[str, object], env: dict[str, str], settings: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config(cli, env, settings)
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_only_the_winning_source_is_used() -> None:
    """A value overridden by a higher source is not the one in effect, so it is not what is validated."""
    assert resolve_config({"port": 8001}, {"TANDEM_PORT": "abc"}, None).port == 8001


def test_unknown_settings_keys_are_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config({}, {}, {"PROC": 2, "BIND": "::1", "COLOUR": "red"})
    message = str(caught.value)
    assert "settings.TANDEM has unknown key(s): COLOUR, PROC (did you mean PROCS?)" in message
    assert "PING_INTERVAL" in message  # the hint lists the keys that exist


def test_settings_tandem_must_be_a_dict() -> None:
    with pytest.raises(ConfigError, match=r"settings.TANDEM must be a dict, not list"):
        resolve_config({}, {}, ["PROCS", 2])  # type: ignore[arg-type]


# --- `tandem config`, run for real on a project ---------------------------------------------------------


def config_json(project: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = tandem_config(project, "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_config_command_reports_each_value_and_its_source(tmp_path: Path) -> None:
    settings = SETTINGS.format(package="mysite") + (
        'TANDEM = {"PROCS": 3, "WORKERS": 7, "PING_INTERVAL": 25, "GRACEFUL_TIMEOUT": 12}\n'
    )
    project = write_project(tmp_path / "site", settings=settings)
    env = clean_env(TANDEM_PROCS="2", TANDEM_WORKERS="5", TANDEM_ACCESS_LOG="off")
    data = config_json(project, "--procs", "4", "--bind", "::1", env=env)
    config = data["config"]
    assert config["procs"] == {"value": "4", "source": "cli"}
    assert config["bind"] == {"value": "::1", "source": "cli"}
    assert config["workers"] == {"value": "5", "source": "TANDEM_WORKERS"}
    assert config["access_log"] == {"value": "False", "source": "TANDEM_ACCESS_LOG"}
    assert config["ping_interval"] == {"value": "25", "source": "settings.TANDEM"}
    assert config["graceful_timeout"] == {"value": "12.0", "source": "settings.TANDEM"}
    assert config["port"] == {"value": "8000", "source": "default"}
    assert config["mode"] == {"value": "unified", "source": "default"}
    assert set(config) == set(Config().values())
    # The derived read timeout follows the ping interval from settings.TANDEM.
    assert data["project"]["ws_read_timeout (effective)"]["value"] == "75"

    text = tandem_config(project, "--procs", "4", env=env)
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines() if line.startswith("  ")}
    assert lines["procs"].endswith("[cli]")
    assert lines["workers"].endswith("[TANDEM_WORKERS]")
    assert lines["ping_interval"].endswith("[settings.TANDEM]")
    assert lines["port"].endswith("[default]")


@pytest.mark.parametrize(
    ("tandem_setting", "env", "expected"),
    [
        (
            '{"PORT": "eighty"}',
            {},
            "settings.TANDEM['PORT']: invalid value 'eighty': expected a whole number",
        ),
        ('{"PROC": 2}', {}, "settings.TANDEM has unknown key(s): PROC (did you mean PROCS?)"),
        ('["PROCS", 2]', {}, "settings.TANDEM must be a dict, not list"),
        (
            "{}",
            {"TANDEM_PROCS": "many"},
            "TANDEM_PROCS: invalid value 'many': expected a whole number or 'auto'",
        ),
    ],
)
def test_config_command_names_an_invalid_value_and_its_source(
    tmp_path: Path, tandem_setting: str, env: dict[str, str], expected: str
) -> None:
    settings = SETTINGS.format(package="mysite") + f"TANDEM = {tandem_setting}\n"
    project = write_project(tmp_path / "site", settings=settings)
    result = tandem_config(project, env=clean_env(**env))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tandem: error: {expected}")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_gc_threshold_below_one_refused(value: str) -> None:
    # gc.set_threshold(0) turns Python's collector off: memory held in cycles would never come back.
    with pytest.raises(ConfigError, match="at least 1") as raised:
        resolve_config({}, {"TANDEM_GC_THRESHOLD": value}, None)
    assert "TANDEM_GC_THRESHOLD" in str(raised.value)


def test_config_command_never_prints_a_secret(tmp_path: Path) -> None:
    """`tandem config` (text and JSON) shows the edge secret and the diagnostic token as set or not, as it
    shows the channel layer's URL without its password: the values end up in terminals and logs."""
    project = write_project(tmp_path / "site", settings=SETTINGS.format(package="mysite"))
    edge_secret = "edge-secret-never-printed-0123"
    token = "diagnostic-token-never-printed"
    layer_password = "layer-password-never-printed"
    env = clean_env(TANDEM_DIAGNOSTIC_TOKEN=token)
    args = (
        "--role", "app", "--edge-secret", edge_secret,
        "--channel-layer", f"redis://:{layer_password}@10.0.0.9:6379/0",
    )  # fmt: skip
    data = config_json(project, *args, env=env)
    config = data["config"]
    assert config["edge_secret"] == {"value": "(set)", "source": "cli"}
    assert config["diagnostic_token"] == {"value": "(set)", "source": "TANDEM_DIAGNOSTIC_TOKEN"}
    assert config["channel_layer"]["value"] == "redis://:***@10.0.0.9:6379/0"
    text = tandem_config(project, *args, env=env)
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines() if line.startswith("  ")}
    assert lines["edge_secret"].split()[1] == "(set)", lines["edge_secret"]
    for output in (json.dumps(data), text.stdout, text.stderr):
        for secret in (edge_secret, token, layer_password):
            assert secret not in output, output
    # Not given: shown as such, not as "(set)".
    unset = config_json(project, env=clean_env())["config"]
    assert unset["edge_secret"]["value"] == unset["diagnostic_token"]["value"] == "-"
