"""Finding nginx for split mode: PATH, then where packages and source builds put it (a normal user's PATH
on Debian has no /usr/sbin); an --nginx path that does not exist is named as such."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.config import resolve_config
from tandem.errors import DependencyError
from tandem.programs import NGINX_DIRS, require_nginx


def fake_nginx(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "nginx"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    return binary


def test_path_comes_first(tmp_path: Path) -> None:
    binary = fake_nginx(tmp_path / "bin")
    config = resolve_config({}, {}, None)
    assert require_nginx(config, {"PATH": f"{tmp_path / 'bin'}{os.pathsep}/usr/bin"}) == str(binary)


def test_found_in_sbin_when_path_lacks_it() -> None:
    installed = next((Path(d) / "nginx" for d in NGINX_DIRS if (Path(d) / "nginx").is_file()), None)
    if installed is None:
        pytest.skip("nginx is not installed in any of " + ", ".join(NGINX_DIRS))
    config = resolve_config({}, {}, None)
    assert require_nginx(config, {"PATH": "/usr/bin:/bin"}) == str(installed)


def test_not_found_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    config = resolve_config({"nginx": "no-such-nginx"}, {}, None)
    with pytest.raises(DependencyError) as caught:
        require_nginx(config, {"PATH": str(tmp_path)})
    message = str(caught.value)
    assert "no-such-nginx not found (looked on PATH, /usr/sbin, /usr/local/sbin" in message
    assert "apt-get install nginx-light" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("cli", "environ", "named"),
    [
        ({"nginx": "/x/nginx"}, {}, "--nginx /x/nginx"),
        ({}, {"TANDEM_NGINX": "/x/nginx"}, "TANDEM_NGINX /x/nginx"),
    ],
)
def test_a_given_path_that_does_not_exist_is_named(
    cli: dict[str, object], environ: dict[str, str], named: str
) -> None:
    config = resolve_config(cli, environ, None)
    with pytest.raises(DependencyError) as caught:
        require_nginx(config, {"PATH": "/usr/sbin:/usr/bin"})
    assert str(caught.value).startswith(f"{named} does not exist: split mode runs nginx in front")
    assert "on PATH" not in str(caught.value)


def test_a_given_path_that_is_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "nginx"
    plain.write_text("")
    config = resolve_config({"nginx": str(plain)}, {}, None)
    with pytest.raises(DependencyError, match=r"is not an executable file"):
        require_nginx(config, {})


def test_a_given_path_is_used_as_it_is(tmp_path: Path) -> None:
    binary = fake_nginx(tmp_path / "opt")
    config = resolve_config({"nginx": str(binary)}, {}, None)
    assert require_nginx(config, {"PATH": ""}) == str(binary)
