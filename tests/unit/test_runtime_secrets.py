"""RuntimeSpec.from_env in an exported process: the secret fields TANDEM_RUNTIME names (secrets_from_env)
come from the 0600 file TANDEM_RUNTIME_SECRETS names, read by the process itself; a missing file, or one
others may read, stops it with one line (fail closed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tandem.runtime.spec import ENV_VAR, SECRETS_VAR, RuntimeSpec, SecretsError

SECRET = "s" * 24

EXPORTED = {
    "app": "chatsite.asgi:application",
    "probe_token": "t",
    "proxy_secret": "",
    "trust_proxy": True,
    "secrets_from_env": ["proxy_secret", "channel_layer"],
}


def secrets_at(tmp_path: Path, mode: int = 0o600, content: object = None) -> Path:
    path = tmp_path / "tandem.secrets"
    values = {"proxy_secret": SECRET, "channel_layer": "redis://:pw@h:6379/0"} if content is None else content
    path.write_text(json.dumps(values))
    path.chmod(mode)
    return path


def from_env(path: object) -> RuntimeSpec:
    environ = {ENV_VAR: json.dumps(EXPORTED)}
    if path is not None:
        environ[SECRETS_VAR] = str(path)
    return RuntimeSpec.from_env(environ)


def test_from_env_merges_the_secrets_file(tmp_path: Path) -> None:
    spec = from_env(secrets_at(tmp_path))
    assert spec.proxy_secret == SECRET and spec.channel_layer == "redis://:pw@h:6379/0"
    assert spec.trust_proxy and spec.secrets_from_env == ("proxy_secret", "channel_layer")


def test_a_spec_without_secrets_needs_no_file() -> None:
    """`tandem serve`'s own children: TANDEM_RUNTIME holds everything, as before (and says nothing new)."""
    spec = RuntimeSpec(app="a:b", probe_token="t", proxy_secret=SECRET)
    assert "secrets_from_env" not in spec.to_env()[ENV_VAR]
    assert RuntimeSpec.from_env(spec.to_env()) == spec


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unset", f"{SECRETS_VAR} is not set"),
        ("missing", "cannot read the secrets file"),
        ("group", "mode 0640, readable by more than its owner: chmod 600"),
        ("others", "mode 0604, readable by more than its owner: chmod 600"),
        ("not-json", "is not a JSON object"),
        ("lacking", "lacks channel_layer"),
        ("not-text", "has no text value for proxy_secret, channel_layer"),
    ],
)
def test_from_env_refuses_a_secrets_file_it_cannot_trust(tmp_path: Path, case: str, expected: str) -> None:
    """Fail closed, one line naming the file and the fix: no process runs without its secrets (it would
    believe no edge, or reach no channel layer), nor with a file anyone else could have read."""
    path: object = {
        "unset": lambda: None,
        "missing": lambda: tmp_path / "absent.secrets",
        "group": lambda: secrets_at(tmp_path, 0o640),
        "others": lambda: secrets_at(tmp_path, 0o604),
        "not-json": lambda: secrets_at(tmp_path, content=["proxy_secret", SECRET]),
        "lacking": lambda: secrets_at(tmp_path, content={"proxy_secret": SECRET}),
        "not-text": lambda: secrets_at(tmp_path, content={"proxy_secret": "", "channel_layer": {"h": 1}}),
    }[case]()
    with pytest.raises(SecretsError) as raised:
        from_env(path)
    message = str(raised.value)
    assert expected in message and "\n" not in message, message
    if path is not None:
        assert str(path) in message
    assert SECRET not in message and "redis:" not in message


def test_from_env_refuses_a_symlink_to_the_secrets(tmp_path: Path) -> None:
    """A link planted where the file should be is not followed (O_NOFOLLOW): the file's own mode is what
    the check means."""
    target = secrets_at(tmp_path)
    link = tmp_path / "link.secrets"
    os.symlink(target, link)
    with pytest.raises(SecretsError, match="cannot read the secrets file"):
        from_env(link)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the file to another user needs root")
def test_from_env_refuses_a_secrets_file_another_user_owns(tmp_path: Path) -> None:
    """0600 but owned by someone else: that user could have written the secrets this process would believe."""
    path = secrets_at(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(SecretsError, match="owned by uid 65534, not by the user running this process"):
        from_env(path)
