"""The per-process exports (systemd --per-process, supervisor, procfile) carry --access-log-file and
--app-access-log into the servers they start, as `tandem serve` passes them (each server appends tandem's
lines to the file itself; behind nginx only with --app-access-log). Before, the Export Plan had no access
log: both options were dropped without a word. --app-access-log without a file (serve's terminal, which an
exported process lacks) is refused in one line; a file the servers do not write behind nginx is a warning.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tandem.errors import UsageError
from tandem.exporters.common import ExportOptions, commands
from tests.unit.test_export_render import Case, plan_of, render

pytestmark = pytest.mark.usefixtures("django_settings")

LOG = "/var/log/chat/access.log"
TARGETS = [
    pytest.param("systemd", ExportOptions(user="chat", per_process=True), id="systemd-per-process"),
    pytest.param("supervisor", ExportOptions(user="chat"), id="supervisor"),
    pytest.param("procfile", ExportOptions(user="chat"), id="procfile"),
]
# The flag each server takes the file with (tandem.servers: Daphne and uvicorn, Gunicorn's arbiters).
FILE_FLAG = {"daphne": "--access-log-file", "uvicorn": "--access-log-file", "gunicorn": "--access-logfile"}


def logged_to(argv: tuple[str, ...]) -> str | None:
    for flag in ("--access-log-file", "--access-logfile"):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return None


def exported_argvs(files: dict[str, str]) -> list[list[str]]:
    """The app servers' argument lists as the exported files give them (Procfile lines, supervisord
    command=, ExecStart=)."""
    found = []
    for content in files.values():
        for line in content.splitlines():
            if line.startswith(("command=", "ExecStart=")) or (": " in line and "&& exec env" in line):
                words = shlex.split(
                    line.split("=", 1)[1] if line.startswith(("command=", "ExecStart=")) else line
                )
                if any(w.startswith("tandem.runtime.") for w in words):
                    found.append(words)
    return found


@pytest.mark.parametrize(
    ("mode", "cli"),
    [
        pytest.param("unified", {"access_log_file": LOG, "bind": "127.0.0.1"}, id="unified-daphne"),
        pytest.param(
            "unified",
            {"access_log_file": LOG, "server": "uvicorn", "bind": "127.0.0.1"},
            id="unified-uvicorn",
        ),
        pytest.param(
            "unified",
            {"access_log_file": LOG, "server": "gunicorn-asgi", "bind": "127.0.0.1"},
            id="unified-gunicorn-asgi",
        ),
        pytest.param("split", {"access_log_file": LOG, "app_access_log": True}, id="split-app-access-log"),
        pytest.param("unified", {"access_log_file": LOG, "proxy": "caddy"}, id="unified-behind-caddy"),
    ],
)
@pytest.mark.parametrize(("target", "options"), TARGETS)
def test_every_exported_server_appends_to_the_access_log_file(
    target: str, options: ExportOptions, mode: str, cli: dict[str, object]
) -> None:
    if cli.get("server") == "uvicorn":
        pytest.importorskip("uvicorn")
        if target == "procfile":
            pytest.skip("uvicorn is refused in a Procfile (tests/unit/test_export_servers.py)")
    case = Case(target, "log", mode=mode, cli=cli, options=options)
    plan = plan_of(case)
    assert commands(plan) and all(logged_to(cmd.argv) == LOG for cmd in commands(plan))
    files = {f.path: f.content for f in render(case)}
    argvs = exported_argvs(files)
    assert argvs and all(logged_to(tuple(argv)) == LOG for argv in argvs), files
    if options.per_process:  # ProtectSystem=strict: the units may write the log's directory
        for path, content in files.items():
            if path.endswith(".service"):
                assert "ReadWritePaths=-/var/log/chat" in content, content


def test_a_relative_access_log_file_is_resolved_where_export_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    case = Case(
        "procfile", "rel", mode="unified", cli={"access_log_file": "logs/access.log", "bind": "127.0.0.1"}
    )
    assert [logged_to(cmd.argv) for cmd in commands(plan_of(case))] == [str(tmp_path / "logs/access.log")]


@pytest.mark.parametrize(("target", "options"), TARGETS)
def test_app_access_log_without_a_file_is_refused_in_one_line(target: str, options: ExportOptions) -> None:
    with pytest.raises(UsageError) as caught:
        render(Case(target, "app-log", cli={"app_access_log": True}, options=options))
    assert "\n" not in str(caught.value) and str(caught.value).startswith(
        "--app-access-log without --access-log-file"
    )
    assert "--access-log-file PATH" in str(caught.value.hint)


def test_behind_nginx_the_file_is_nginxs_and_export_says_so() -> None:
    """Without --app-access-log the servers stay quiet behind nginx (as under serve): the export warns that
    the file is not written by them rather than dropping it silently."""
    plan = plan_of(Case("procfile", "split", cli={"access_log_file": LOG}))
    assert all(logged_to(cmd.argv) is None for cmd in commands(plan))
    assert any(w.startswith(f"--access-log-file {LOG}:") and "--app-access-log" in w for w in plan.warnings)


def test_the_one_service_leaves_the_file_to_its_tandem_serve() -> None:
    """export systemd's one tandem.service runs `tandem serve --access-log-file ...`: the Plan's stand-in
    commands are not exported and get none, and --app-access-log alone is not refused there."""
    for cli in ({"access_log_file": LOG}, {"app_access_log": True}):
        plan = plan_of(Case("systemd", "one", mode="unified", cli={**cli, "bind": "127.0.0.1"}))
        assert all(logged_to(cmd.argv) is None for cmd in commands(plan))
