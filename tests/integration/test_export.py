"""`tandem export nginx` and `tandem routes` as a user runs them: the real CLI in a subprocess, on the
example project and on small projects with other routing shapes. Exported configs are checked by the
real `nginx -t`, and one is run by a real nginx in front of the app servers `tandem serve` started."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from tests.conftest import TandemRunner, example_env, stop_process, wait_for
from tests.integration.test_split import (
    SPLIT,
    answered_by,
    lines_from,
    served_from_disk,
    websocket,
)
from tests.nginx_check import harness, nginx_t
from tests.small_projects import (
    ASGI,
    ASGI_CATCH_ALL,
    ASGI_WS_ANY,
    SERVED_SETTINGS,
    STATUS_URLS_UNDER_WS,
    write_served_project,
)


def export(tandem: TandemRunner, project: Path, out: Path, *args: str) -> str:
    code, output = tandem.run("export", "nginx", "--out", str(out), *args, cwd=project)
    assert code == 0, output
    return output


# --- export ----------------------------------------------------------------------------------------------------


def test_export_nginx_on_the_example(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    out = tmp_path / "deploy"
    output = export(tandem, example_project, out)
    assert f"wrote {out / 'tandem.conf'}" in output and f"wrote {out / 'README.txt'}" in output
    conf = (out / "tandem.conf").read_text()
    assert (
        'server "unix:/run/tandem/gunicorn.sock";' in conf
        and 'server "unix:/run/tandem/daphne.sock";' in conf
    )
    assert 'location ^~ "/ws/chat/"' in conf and 'location ^~ "/ws/echo/"' in conf
    assert "listen 80;" in conf and 'server_name "127.0.0.1" "localhost" "[::1]";' in conf
    assert f'alias "{example_project / "staticfiles"}/";' in conf
    readme = (out / "README.txt").read_text()
    assert "sudo cp tandem.conf /etc/nginx/conf.d/chatsite.conf" in readme
    # The app servers as tandem serve starts them (its entry points, settings module in the environment),
    # never a bare gunicorn or daphne, and no middleware to write.
    assert "tandem.runtime.wsgi:application" in readme and "-m tandem.runtime.daphne" in readme
    assert "DJANGO_SETTINGS_MODULE=chatsite.settings" in readme and "--drain-timeout" in readme
    assert "-u /run/tandem/daphne.sock" in readme and "middleware" not in readme
    assert "tandem export systemd --per-process" in readme
    assert "server_name _" not in readme  # ALLOWED_HOSTS names hosts
    nginx_t(nginx_bin, harness(tmp_path / "harness", out / "tandem.conf"))


def test_export_with_tcp_and_asgi_prefix(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    out = tmp_path / "deploy"
    export(tandem, example_project, out, "--internal", "tcp", "--asgi-prefix", "/sse/", "--port", "8080")
    conf = (out / "tandem.conf").read_text()
    assert 'server "127.0.0.1:8000";' in conf and 'server "127.0.0.1:8001";' in conf
    assert 'location ^~ "/sse/"' in conf and "listen 8080;" in conf
    assert "-b 127.0.0.1 -p 8001" in (out / "README.txt").read_text()
    nginx_t(nginx_bin, harness(tmp_path / "harness", out / "tandem.conf"))


def test_export_of_a_catch_all_websocket_route(tmp_path: Path, tandem: TandemRunner, nginx_bin: str) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI_CATCH_ALL)
    out = tmp_path / "deploy"
    export(tandem, project, out)
    conf = (out / "tandem.conf").read_text()
    assert (
        "proxy_pass http://$tandem_mysite_upstream;" in conf and '"~*websocket"  tandem_mysite_asgi;' in conf
    )
    nginx_t(nginx_bin, harness(tmp_path / "harness", out / "tandem.conf"))


def test_export_prints_the_plans_warnings(tmp_path: Path, tandem: TandemRunner) -> None:
    settings_without_static = "\n".join(
        line for line in SERVED_SETTINGS.splitlines() if "STATIC_ROOT" not in line
    )
    project = write_served_project(tmp_path / "proj", settings=settings_without_static)
    output = export(tandem, project, tmp_path / "deploy")
    assert "warning: STATIC_ROOT is not set" in output


@contextlib.contextmanager
def running_nginx(nginx: str, conf: Path, listener: socket.socket) -> Iterator[subprocess.Popen[str]]:
    """A real nginx on ``conf``, serving the already bound ``listener`` (adopted through $NGINX, as tandem
    does), stopped by its pid, with its workers, whatever happens."""
    env = {**os.environ, "NGINX": f"{listener.fileno()};"}
    proc = subprocess.Popen(
        [nginx, "-p", f"{conf.parent}/", "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
        env=env,
        pass_fds=(listener.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: set[int] = set()
    try:
        yield proc
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = {child.pid for child in psutil.Process(proc.pid).children(recursive=True)}
        stop_process(proc, timeout=15)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_exported_config_serves_the_project(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    """What is exported is what is served: a second, separately run nginx with the exported server block
    (only its listen line moved to a loopback port) in front of the app servers of a `tandem serve` run
    whose sockets are where the export says."""
    runtime = tmp_path / "run"
    # Gunicorn logs its own requests too: the exported nginx in front is not the one tandem runs.
    run = tandem.serve(example_project, *SPLIT, "--runtime-dir", str(runtime), "--app-access-log")
    out = tmp_path / "deploy"
    export(tandem, example_project, out, "--runtime-dir", str(runtime))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        conf = out / "tandem.conf"
        conf.write_text(conf.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};", 1))
        # As root, nginx's workers would otherwise run as nobody, who cannot enter the private runtime dir
        # (the exported README tells a production host to give www-data that access).
        extra = "user root;" if os.geteuid() == 0 else ""
        with running_nginx(nginx_bin, harness(tmp_path / "harness", conf, extra=extra), listener) as proc:
            url = f"http://127.0.0.1:{port}/"

            def answers() -> httpx.Response | None:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                with contextlib.suppress(httpx.TransportError):
                    return httpx.get(url + "whoami?via=export", timeout=5)
                return None

            whoami = wait_for(answers, timeout=20, message="the exported nginx to answer")
            assert whoami.json()["server"] == "wsgi"
            # Gunicorn answered it (its own access line): the exported block routes to tandem's sockets.
            wait_for(
                lambda: any("whoami?via=export" in line for line in lines_from(run, "gunicorn")),
                timeout=15,
                message="gunicorn's access line for whoami?via=export",
            )
            served_from_disk(
                httpx.get(url + "static/chat/chat.css", timeout=15),
                example_project / "staticfiles" / "chat" / "chat.css",
            )
            with websocket(url, "/ws/echo/") as ws:
                ws.send("through the export")
                assert ws.recv(timeout=15) == "through the export"
    # tandem's own nginx never saw it: the request came in through the exported one.
    assert answered_by(run, "whoami?via=export") == set()


# --- routes ----------------------------------------------------------------------------------------------------


def routes(tandem: TandemRunner, project: Path, *args: str) -> tuple[int, str]:
    return tandem.run("routes", *args, cwd=project)


def test_routes_on_the_example(example_project: Path, tandem: TandemRunner) -> None:
    code, output = routes(tandem, example_project, "--mode", "split")
    assert code == 0, output
    assert re.search(
        r"^/ws/chat/\s+websocket\s+daphne\s+daphne\S*( daphne\.\d+)*( \.\. daphne\.\d+)?\s+path prefix\s+"
        r"ws/chat/<str:room>/\s+chat\.consumers\.ChatConsumer$",
        output,
        re.M,
    )
    assert re.search(r"^/\s+http\s+gunicorn\s+gunicorn\s+catch-all\s", output, re.M)
    assert "WebSockets are routed by path prefix: /ws/chat/, /ws/echo/" in output
    # unified (serve's default): Daphne answers everything, no proxy routes anything
    code, output = routes(tandem, example_project)
    assert code == 0, output
    assert re.search(r"^/\s+http\s+daphne\s+daphne\S*.*\s+application\s+\(everything else\)", output, re.M)
    assert "warning:" not in output


def test_routes_of_a_catch_all_websocket_route(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI_CATCH_ALL)
    code, output = routes(tandem, project, "--mode", "split")
    assert code == 0, output
    assert "WebSockets are routed by Upgrade header" in output
    code, output = routes(tandem, project, "--mode", "split", "--json")
    assert json.loads(output)["route_by"] == "Upgrade header"


def test_routes_of_plain_django(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI.format(package="mysite"))
    code, output = routes(tandem, project, "--mode", "split", "--json")
    assert code == 0, output
    table = json.loads(output)
    assert table["websocket_prefixes"] == [] and table["route_by"] == "none"
    # only the catch-all "/" to Gunicorn
    assert [(row["protocol"], row["server"]) for row in table["routes"]] == [("http", "gunicorn")]
    code, output = routes(tandem, project)
    assert "No WebSocket routes" in output


def test_routes_warns_about_an_http_url_under_a_websocket_prefix(
    tmp_path: Path, tandem: TandemRunner
) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI_WS_ANY, urls=STATUS_URLS_UNDER_WS)
    code, output = routes(tandem, project)
    assert code == 0, output
    assert re.search(
        r"^warning: Django URL 'ws/status/' \(/ws/status/\) is under the websocket prefix /ws/", output, re.M
    )


def test_routes_with_asgi_prefix(example_project: Path, tandem: TandemRunner) -> None:
    code, output = routes(tandem, example_project, "--mode", "split", "--asgi-prefix", "/sse/")
    assert code == 0, output
    assert re.search(r"^/sse/\s+http\s+daphne\s+daphne\S*.*\s+path prefix\s+\(--asgi-prefix\)", output, re.M)


def test_export_says_when_serve_would_have_given_the_project_a_redis(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """The example's views send group messages; serve runs a Redis for them in split mode. The bare servers
    of a Procfile do not: export says so, and says nothing once a Redis is named."""
    code, output = tandem.run(
        "export", "procfile", "--mode", "split", "--out", str(tmp_path / "a"), cwd=example_project
    )
    assert code == 0, output
    assert "warning: tandem serve gives this project a Redis channel layer of its own" in output, output
    code, output = tandem.run(
        "export", "procfile", "--mode", "split", "--channel-layer", "redis://127.0.0.1:6379/0",
        "--out", str(tmp_path / "b"), cwd=example_project,
    )  # fmt: skip
    assert code == 0, output
    assert "Redis channel layer of its own" not in output, output
    # An edge runs no app server, so its channel layer is never used: nothing to say.
    code, output = tandem.run(
        "export", "nginx", "--role", "edge", "--upstream", "10.0.0.2", "--edge-secret", "s" * 20,
        "--out", str(tmp_path / "c"), cwd=example_project,
    )  # fmt: skip
    assert code == 0, output
    assert "Redis channel layer of its own" not in output, output


def test_process_exports_carry_the_proxy_they_are_for(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, caddy_bin: str
) -> None:
    """--proxy (or TANDEM_PROXY) reaches export systemd, procfile and supervisor as it reaches serve:
    unified mode behind Caddy writes Caddy's site (checked by caddy validate) beside a Daphne on the socket
    it names, a TANDEM_PROXY=caddy shell gets a Caddyfile instead of a crash, the one systemd unit runs
    `tandem serve --proxy caddy`, and export nginx with --proxy caddy is refused in one line."""
    code, output = tandem.run(
        "export", "procfile", "--mode", "unified", "--proxy", "caddy", "--out", str(tmp_path / "p"),
        cwd=example_project,
    )  # fmt: skip
    assert code == 0, output
    site = (tmp_path / "p" / "caddy" / "Caddyfile").read_text()
    assert not (tmp_path / "p" / "nginx").exists()
    upstream = re.search(r"reverse_proxy[^\n]*unix/(/\S+\.sock)", site)
    assert upstream is not None, site
    (daphne,) = (tmp_path / "p" / "Procfile").read_text().splitlines()
    assert f"-u {upstream.group(1)} " in daphne and "--port" not in daphne, daphne
    assert "Caddy" in (tmp_path / "p" / "README.txt").read_text()

    env = {**example_env(example_project), "TANDEM_PROXY": "caddy"}
    code, output = tandem.run(
        "export", "supervisor", "--out", str(tmp_path / "s"), cwd=example_project, env=env
    )
    assert code == 0 and "Traceback" not in output, output
    assert (tmp_path / "s" / "caddy" / "Caddyfile").is_file()

    code, output = tandem.run(
        "export", "systemd", "--mode", "unified", "--out", str(tmp_path / "u"), cwd=example_project, env=env
    )
    assert code == 0, output
    exec_start = next(
        line
        for line in (tmp_path / "u" / "tandem.service").read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    assert '"--mode" "unified"' in exec_start and '"--proxy" "caddy"' in exec_start, exec_start

    code, output = tandem.run(
        "export", "nginx", "--proxy", "caddy", "--out", str(tmp_path / "n"), cwd=example_project
    )
    assert code == 2, output
    assert "--proxy caddy contradicts export nginx" in output and "Traceback" not in output, output
    assert not (tmp_path / "n").exists()


def test_role_exports_write_or_refuse_in_one_line(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """Every export target for --role edge and --role app either writes its files or is refused with one
    `tandem: error:` line and the usage exit code (2), never a traceback. `export systemd --role edge`
    crashed with IndexError (an edge has no app server); it now writes a tandem.service running
    `tandem serve --role edge` with the upstreams."""
    secret = "s" * 24
    roles = {
        "edge": ("--role", "edge", "--upstream", "10.0.0.2", "--edge-secret", secret),
        "app": ("--role", "app", "--bind", "10.0.0.2", "--channel-layer", "redis://10.0.0.9:6379/0",
                "--edge-secret", secret),
    }  # fmt: skip
    targets = {
        "systemd": ("systemd",),
        "per-process": ("systemd", "--per-process"),
        "procfile": ("procfile",),
        "supervisor": ("supervisor",),
        "nginx": ("nginx",),
        "caddy": ("caddy",),
    }
    written = {
        ("edge", "systemd"),
        ("edge", "nginx"),
        *(("app", t) for t in ("systemd", "per-process", "procfile", "supervisor")),
    }
    for role, role_args in roles.items():
        for name, target in targets.items():
            out = tmp_path / f"{role}-{name}"
            code, output = tandem.run(
                "export", *target, "--mode", "split", *role_args, "--out", str(out), cwd=example_project
            )
            assert "Traceback" not in output, output
            if (role, name) in written:
                assert code == 0, (role, name, output)
                assert out.is_dir() and any(out.iterdir()), (role, name)
            else:
                errors = [line for line in output.splitlines() if line.startswith("tandem: error:")]
                assert code == 2 and len(errors) == 1, (role, name, output)
                assert not out.exists(), (role, name)
    unit = (tmp_path / "edge-systemd" / "tandem.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert (
        '"serve"' in exec_start
        and '"--role" "edge"' in exec_start
        and '"--upstream" "10.0.0.2"' in exec_start
    )
    assert secret not in unit


def test_one_service_unit_runs_the_config_export_was_given(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """`tandem export systemd` (the one tandem.service) repeats to `tandem serve` everything it was given,
    by flag or TANDEM_* variable: `tandem config` run with the unit's ExecStart arguments, its Environment=
    lines and the tandem.env it wrote resolves the options the export had (a --channel-layer was lost, and
    the unit refused to start on the host: E015). The layer's password is in tandem.env (0600) alone, and
    `tandem config` prints the URL without it: both sides compare the same redacted form, and tandem.env
    must hold the URL as given."""
    password = "pw-never-on-the-command-line"
    layer = f"redis://:{password}@10.0.0.9:6379/0"
    given = ("--mode", "split", "--channel-layer", layer)
    env = {**example_env(example_project), "TANDEM_PROCS": "3", "TANDEM_MAX_BODY_SIZE": "50m"}
    out = tmp_path / "deploy"
    code, output = tandem.run("export", "systemd", *given, "--out", str(out), cwd=example_project, env=env)
    assert code == 0, output
    unit = (out / "tandem.service").read_text()
    assert password not in unit and password not in (out / "README.txt").read_text()
    assert (out / "tandem.env").stat().st_mode & 0o777 == 0o600
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    assert words[1:4] == ["-m", "tandem", "serve"] and "--procs" in words, words
    unit_env = dict(
        shlex.split(line.removeprefix("Environment="))[0].split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
    )
    secret = env_file_values(out / "tandem.env")
    assert secret == {"TANDEM_CHANNEL_LAYER": layer}

    def config(*args: str, environ: dict[str, str]) -> dict[str, str]:
        code, output = tandem.run("config", "--json", *args, cwd=example_project, env=environ)
        assert code == 0, output
        assert password not in output, output
        return {k: v["value"] for k, v in json.loads(output)["config"].items()}

    exported = config(
        *given, "--bind", "0.0.0.0", "--port", "80", "--runtime-dir", "/run/tandem", environ=env
    )
    on_host = config(*words[4:], environ={**example_env(example_project), **unit_env, **secret})
    assert on_host == exported
    assert on_host["channel_layer"] == "redis://:***@10.0.0.9:6379/0"
    assert on_host["procs"] == "3" and on_host["max_body_size"] == "50m"
    # The text output redacts it the same way.
    code, output = tandem.run("config", *given, cwd=example_project, env=env)
    assert code == 0 and password not in output and "redis://:***@10.0.0.9:6379/0" in output, output


def unit_command(out: Path) -> tuple[list[str], dict[str, str]]:
    """The exported tandem.service's `tandem serve` arguments (ExecStart after `python -m tandem serve`) and
    the TANDEM_* environment it runs with: its Environment= lines and the tandem.env it wrote (read by sh)."""
    unit = (out / "tandem.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    assert words[1:4] == ["-m", "tandem", "serve"], words
    environ = dict(
        shlex.split(line.removeprefix("Environment="))[0].split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
    )
    if (out / "tandem.env").exists():
        environ.update(env_file_values(out / "tandem.env"))
    return words[4:], environ


def env_file_values(path: Path) -> dict[str, str]:
    """The TANDEM_* variables an EnvironmentFile sets, read by sh as systemd would source it."""
    installed = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; exec env -0', "sh", str(path)],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.decode()
    return dict(item.split("=", 1) for item in installed.split("\0") if item.startswith("TANDEM_"))


def test_edge_unit_serves_the_ports_export_was_given(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """`tandem export systemd --role edge` with the app hosts' ports (--http-port/--ws-port, the default
    ports of an --upstream without its own): the unit's `tandem serve --role edge` resolves the same Config
    as the export, so its nginx sends to the ports the export rendered. ExecStart lacked them: the unit's
    nginx sent to 8000/8001 while the app hosts listened on 9100/9101."""
    secret = "e" * 24
    given = ("--role", "edge", "--mode", "split", "--upstream", "10.0.0.2", "--upstream", "10.0.0.3:9200",
             "--http-port", "9100", "--ws-port", "9101")  # fmt: skip
    env = {**example_env(example_project), "TANDEM_EDGE_SECRET": secret}
    out = tmp_path / "deploy"
    code, output = tandem.run("export", "systemd", *given, "--out", str(out), cwd=example_project, env=env)
    assert code == 0, output
    args, unit_env = unit_command(out)

    def config(*args: str, environ: dict[str, str]) -> dict[str, str]:
        code, output = tandem.run("config", "--json", *args, cwd=example_project, env=environ)
        assert code == 0, output
        return {k: v["value"] for k, v in json.loads(output)["config"].items()}

    exported = config(
        *given, "--bind", "0.0.0.0", "--port", "80", "--runtime-dir", "/run/tandem", environ=env
    )
    on_host = config(*args, environ={**example_env(example_project), **unit_env})
    assert on_host == exported
    assert (on_host["http_port"], on_host["ws_port"]) == ("9100", "9101")
    assert secret not in (out / "tandem.service").read_text()


def test_one_service_unit_gets_the_paths_where_the_export_ran(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """`tandem export systemd --project DIR` run in another directory with TANDEM_ACCESS_LOG_FILE=logs/...
    (relative): the unit's `tandem serve` (run in the project's directory) gets the file the export meant,
    absolute, and the unit may write its directory under ProtectSystem=strict. It was carried as typed:
    the host's serve wrote PROJECT/logs/access.log, which the unit could not write either."""
    elsewhere = tmp_path / "checkout"
    elsewhere.mkdir()
    env = {**example_env(example_project), "TANDEM_ACCESS_LOG_FILE": "logs/access.log"}
    out = tmp_path / "deploy"
    code, output = tandem.run(
        "export", "systemd", "--project", str(example_project), "--out", str(out), cwd=elsewhere, env=env
    )
    assert code == 0, output
    args, unit_env = unit_command(out)
    unit = (out / "tandem.service").read_text()
    assert f"WorkingDirectory={example_project}" in unit
    wanted = elsewhere / "logs" / "access.log"
    code, output = tandem.run(
        "config", "--json", *args, cwd=example_project, env={**example_env(example_project), **unit_env}
    )
    assert code == 0, output
    assert json.loads(output)["config"]["access_log_file"]["value"] == str(wanted)
    read_write = [
        line.removeprefix("ReadWritePaths=-") for line in unit.splitlines() if "ReadWritePaths=" in line
    ]
    assert str(wanted.parent) in read_write, read_write


def runtime_spec(words: list[str]) -> dict[str, object]:
    """The TANDEM_RUNTIME JSON among a command's ``env`` words or a unit's Environment= values."""
    (spec,) = (word.split("=", 1)[1] for word in words if word.startswith("TANDEM_RUNTIME="))
    loaded = json.loads(spec)
    assert isinstance(loaded, dict)
    return loaded


def test_export_takes_the_process_counts_and_gc_threshold_as_flags(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """--procs, --workers, --threads and --gc-threshold are flags of `tandem export` (they reached it only as
    TANDEM_* variables), and each target renders them: the one tandem.service repeats them on ExecStart,
    the per-process units, supervisor and the Procfile start that many Daphnes, Gunicorn with those workers
    and threads, and every app server's runtime spec carries the threshold."""
    counts = ("--workers", "5", "--threads", "2", "--gc-threshold", "9000")
    code, output = tandem.run("export", "--help", cwd=example_project)
    assert code == 0, output
    for flag in ("--procs", *counts[::2]):
        assert f"\n  {flag} N" in output, (flag, output)

    def export(target: str, *args: str) -> Path:
        out = tmp_path / target.replace(" ", "-")
        code, output = tandem.run(
            "export", *target.split(), "--mode", "split", *args, "--out", str(out), cwd=example_project
        )
        assert code == 0, output
        return out

    out = export("systemd", "--procs", "3", *counts)
    words, _ = unit_command(out)
    for flag, value in zip(("--procs", *counts[::2]), ("3", *counts[1::2]), strict=True):
        assert words[words.index(flag) + 1] == value, words

    out = export("systemd --per-process", "--procs", "3", *counts)
    units = {path.name: path.read_text() for path in out.glob("*.service")}
    assert sorted(units) == [f"tandem-daphne-{n}.service" for n in (1, 2, 3)] + ["tandem-gunicorn.service"]
    for name, unit in units.items():
        lines = [shlex.split(line.split("=", 1)[1]) for line in unit.splitlines() if "=" in line]
        exec_start = next(line for line in lines if "-m" in line)
        assert runtime_spec([word for line in lines for word in line])["gc_threshold"] == 9000, name
        if name == "tandem-gunicorn.service":
            assert exec_start[exec_start.index("--workers") + 1] == "5", exec_start
            assert exec_start[exec_start.index("--threads") + 1] == "2", exec_start

    out = export("supervisor", "--procs", "3", *counts)
    assert "numprocs=3\n" in (out / "tandem.conf").read_text()

    out = export("procfile", "--procs", "1", *counts)
    lines = dict(line.split(": ", 1) for line in (out / "Procfile").read_text().splitlines())
    assert sorted(lines) == ["daphne", "gunicorn"], lines
    for command in lines.values():
        assert runtime_spec(shlex.split(command))["gc_threshold"] == 9000, command
    gunicorn = shlex.split(lines["gunicorn"])
    assert (
        gunicorn[gunicorn.index("--workers") + 1] == "5" and gunicorn[gunicorn.index("--threads") + 1] == "2"
    )
