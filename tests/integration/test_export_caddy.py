"""`tandem export caddy` through the real CLI: the Caddyfile for the project, checked by caddy validate."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import TandemRunner


def test_export_caddy_with_automatic_https(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, caddy_bin: str
) -> None:
    out = tmp_path / "deploy"
    code, output = tandem.run(
        "export", "caddy", "--public-url", "https://chat.example.com", "--out", str(out), cwd=example_project
    )
    assert code == 0, output
    assert f"wrote {out / 'Caddyfile'}" in output and f"wrote {out / 'README.txt'}" in output
    conf = (out / "Caddyfile").read_text()
    # The site is the public host: Caddy's automatic HTTPS, no admin socket or fd of a managed run.
    assert "\nchat.example.com {\n" in conf and "auto_https off" not in conf and "bind fd/" not in conf
    assert 'reverse_proxy "unix//run/tandem/gunicorn.sock"' in conf
    assert 'handle "/ws/chat/*"' in conf and 'handle "/ws/echo/*"' in conf
    assert f'root * "{example_project / "staticfiles"}/"' in conf
    readme = (out / "README.txt").read_text()
    assert "automatic HTTPS" in readme and "tandem.runtime.wsgi:application" in readme
    result = subprocess.run(
        [caddy_bin, "validate", "--config", str(out / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_export_caddy_without_a_public_url_is_plain_http(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, caddy_bin: str
) -> None:
    out = tmp_path / "deploy"
    code, output = tandem.run("export", "caddy", "--port", "8080", "--out", str(out), cwd=example_project)
    assert code == 0, output
    assert "\nhttp://:8080 {\n" in (out / "Caddyfile").read_text()
    assert "--public-url https://" in (out / "README.txt").read_text()
