"""Every export target with the app servers other than the defaults (--http-server granian, --ws-server /
--server gunicorn-asgi or uvicorn): each either renders the server the host will run, named as it is, or
is refused before anything is written, in one line naming the option and what to use instead. Before,
gunicorn-asgi was left out of the per-process exports (the Procfile silently had no ASGI line, supervisor
and systemd --per-process crashed with IndexError) and the READMEs said Daphne whatever ran.

Rendered through the real exporters, from the Plan `tandem export` builds (tests.unit.test_export_render).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tandem.errors import UsageError
from tandem.exporters.common import ExportOptions
from tests.unit.test_export_render import Case, render

pytestmark = pytest.mark.usefixtures("django_settings")

ONE = ExportOptions(user="chat")
PER_PROCESS = ExportOptions(user="chat", per_process=True)

# (target, options, id): every export target; nginx and caddy also list the servers' commands.
TARGETS = [
    ("systemd", ONE, "systemd"),
    ("systemd", PER_PROCESS, "systemd-per-process"),
    ("supervisor", ONE, "supervisor"),
    ("procfile", ONE, "procfile"),
    ("nginx", ONE, "nginx"),
    ("caddy", ONE, "caddy"),
]


@dataclass(frozen=True)
class Servers:
    name: str
    mode: str
    cli: dict[str, object] = field(default_factory=dict)
    runtime: str = ""  # what the exported command runs
    label: str = ""  # how a README names the server


GRANIAN = Servers("granian", "split", {"http_server": "granian"}, "tandem.runtime.granian", "Granian")
SERVERS = [
    GRANIAN,
    Servers(
        "gunicorn-asgi-split",
        "split",
        {"ws_server": "gunicorn-asgi"},
        "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
        "Gunicorn's ASGI worker",
    ),
    Servers(
        "gunicorn-asgi-unified",
        "unified",
        {"server": "gunicorn-asgi", "bind": "127.0.0.1"},
        "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
        "Gunicorn's ASGI worker",
    ),
    Servers(
        "gunicorn-asgi-unified-proxy",
        "unified",
        {"server": "gunicorn-asgi", "proxy": "nginx"},
        "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
        "Gunicorn's ASGI worker",
    ),
    Servers("uvicorn-split", "split", {"ws_server": "uvicorn"}, "tandem.runtime.uvicorn", "uvicorn"),
    Servers(
        "uvicorn-unified",
        "unified",
        {"server": "uvicorn", "bind": "127.0.0.1"},
        "tandem.runtime.uvicorn",
        "uvicorn",
    ),
    Servers(
        "uvicorn-unified-proxy",
        "unified",
        {"server": "uvicorn", "proxy": "nginx"},
        "tandem.runtime.uvicorn",
        "uvicorn",
    ),
]

# What each target does with each server: render it, or refuse it naming the option. Granian and uvicorn
# adopt a socket bound for them: the one service's `tandem serve` binds it; systemd's socket unit and
# supervisord's fcgi-program bind uvicorn's shared one (not Granian's); a Procfile line, and the commands
# nginx's and Caddy's READMEs list, start them on their own.
REFUSED = {
    ("granian", "systemd-per-process"),
    ("granian", "supervisor"),
    ("granian", "procfile"),
    ("granian", "nginx"),
    ("granian", "caddy"),
    *((uvicorn, target) for uvicorn in ("uvicorn-split", "uvicorn-unified", "uvicorn-unified-proxy")
      for target in ("procfile", "nginx", "caddy")),
}  # fmt: skip
MODULES = {"granian": "granian", "gunicorn": "gunicorn.workers.gasgi", "uvicorn": "uvicorn"}
OPTION = {"granian": "--http-server granian", "uvicorn": "uvicorn"}


def case_of(target: str, options: ExportOptions, servers: Servers) -> Case:
    cli = dict(servers.cli)
    if target in ("nginx", "caddy"):
        cli["proxy"] = target  # as `tandem export nginx|caddy` sets it
    return Case(target, servers.name, mode=servers.mode, cli=cli, options=options)


MATRIX = [
    pytest.param(target, options, servers, id=f"{tid}-{servers.name}")
    for target, options, tid in TARGETS
    for servers in SERVERS
]


def target_id(target: str, options: ExportOptions) -> str:
    return f"{target}-per-process" if options.per_process else target


@pytest.mark.parametrize(("target", "options", "servers"), MATRIX)
def test_each_target_renders_the_server_or_refuses_it_in_one_line(
    target: str, options: ExportOptions, servers: Servers
) -> None:
    pytest.importorskip(MODULES[servers.name.split("-")[0]])
    case = case_of(target, options, servers)
    if (servers.name, target_id(target, options)) in REFUSED:
        with pytest.raises(UsageError) as caught:
            render(case)
        message = str(caught.value)
        assert "\n" not in message and caught.value.hint, message
        assert OPTION[servers.name.split("-", 1)[0]] in message, message
        return
    files = {f.path: f.content for f in render(case)}
    # What the export writes about the servers (the proxy's own config is serve's, comments included).
    everything = "\n".join(
        c for path, c in files.items() if not path.endswith(("nginx/tandem.conf", "Caddyfile"))
    )
    if target == "nginx":
        everything = files["README.txt"]
    if target == "systemd" and not options.per_process:
        # The one service's `tandem serve` is told which server to run.
        flag = next(
            f"--{key.replace('_', '-')} {value}" for key, value in servers.cli.items() if "server" in key
        )
        assert flag.replace(" ", '" "') in files["tandem.service"], files["tandem.service"]
    else:
        assert servers.runtime in everything, everything
    readme = files["README.txt"]
    assert servers.label in readme, readme
    if servers.name != "granian":  # Granian stands beside Daphne (split mode's WSGI side)
        assert "Daphne" not in everything, readme


@pytest.mark.parametrize(
    ("target", "options"), [(t, o) for t, o, _ in TARGETS if t in ("systemd", "supervisor", "procfile")]
)
@pytest.mark.parametrize("mode", ["split", "unified"])
def test_gunicorn_asgi_is_an_exported_process(target: str, options: ExportOptions, mode: str) -> None:
    """The process exports start Gunicorn's ASGI worker: the Procfile has its line (it had none), supervisor
    and systemd --per-process hand its arbiter the socket they bind (they crashed with IndexError)."""
    pytest.importorskip("gunicorn.workers.gasgi")
    cli = {"ws_server": "gunicorn-asgi"} if mode == "split" else {"server": "gunicorn-asgi", "proxy": "nginx"}
    files = {f.path: f.content for f in render(Case(target, mode, mode=mode, cli=cli, options=options))}
    if target == "procfile":
        names = [line.split(":", 1)[0] for line in files["Procfile"].splitlines()]
        assert "gunicorn-asgi" in names, files["Procfile"]
        line = next(line for line in files["Procfile"].splitlines() if line.startswith("gunicorn-asgi:"))
        assert "--bind unix:/run/tandem/daphne.sock" in line, line  # it binds its own socket there
    elif target == "supervisor":
        conf = files["tandem.conf"]
        block = conf.split("[fcgi-program:tandem-gunicorn-asgi]", 1)[1]
        assert "numprocs=1" in block and "--bind fd://0" in block, conf
        assert "signal HUP tandem-gunicorn-asgi:tandem-gunicorn-asgi.1" in files["README.txt"]
    elif options.per_process:
        unit = files["tandem-gunicorn-asgi.service"]
        assert "Sockets=tandem-gunicorn-asgi.socket" in unit and '"fd://3"' in unit, unit
        assert "ExecReload=/bin/kill -HUP $MAINPID" in unit, unit
        assert "Service=tandem-gunicorn-asgi.service" in files["tandem-gunicorn-asgi.socket"]
        assert "systemctl reload tandem-gunicorn-asgi.service" in files["README.txt"]
    else:
        assert (
            '"--ws-server" "gunicorn-asgi"' in files["tandem.service"]
            or '"--server" "gunicorn-asgi"' in (files["tandem.service"])
        )


@pytest.mark.parametrize("target", ["systemd-per-process", "supervisor"])
def test_uvicorn_units_are_named_after_uvicorn(target: str) -> None:
    """An operator restarting `tandem-daphne-1` to restart uvicorn would be misled: the units, the socket
    unit and supervisord's program carry uvicorn's name, and the README's reload line names them."""
    pytest.importorskip("uvicorn")
    options = ExportOptions(per_process=True) if target == "systemd-per-process" else ExportOptions()
    case = Case(target.split("-")[0], "uvicorn", cli={"ws_server": "uvicorn", "procs": 2}, options=options)
    files = {f.path: f.content for f in render(case)}
    if target == "supervisor":
        assert "[fcgi-program:tandem-uvicorn]" in files["tandem.conf"], files["tandem.conf"]
        assert "[fcgi-program:tandem-daphne]" not in files["tandem.conf"]
        return
    assert {"tandem-uvicorn.socket", "tandem-uvicorn-1.service", "tandem-uvicorn-2.service"} <= set(files)
    assert not [path for path in files if "daphne" in path], sorted(files)
    assert "Service=tandem-uvicorn-1.service" in files["tandem-uvicorn.socket"]
    assert "systemctl reload tandem-uvicorn-1.service" in files["README.txt"], files["README.txt"]


@pytest.mark.parametrize("procs", [1, 3])
def test_supervisor_gives_each_uvicorn_its_own_private_socket(procs: int) -> None:
    """Each uvicorn of the fcgi-program gets a private probe socket numbered like the process, as each
    Daphne does (the uvicorn ones kept the first's name: every process on one path)."""
    pytest.importorskip("uvicorn")
    case = Case("supervisor", "uvicorn", cli={"ws_server": "uvicorn", "procs": procs})
    conf = {f.path: f.content for f in render(case)}["tandem.conf"]
    assert "uvicorn-%(process_num)d.0.sock" in conf, conf
    assert "uvicorn-1.0.sock" not in conf, conf


@pytest.mark.parametrize(
    ("cli", "mode", "routing"),
    [
        ({"ws_server": "uvicorn"}, "split", "WebSockets to uvicorn, everything else to Gunicorn"),
        ({"ws_server": "gunicorn-asgi"}, "split", "WebSockets to Gunicorn's ASGI worker, everything else"),
        ({"server": "uvicorn", "proxy": "nginx"}, "unified", "every request to uvicorn"),
        ({"server": "gunicorn-asgi", "proxy": "nginx"}, "unified", "every request to Gunicorn's ASGI worker"),
    ],
)
def test_readme_bullets_and_routing_name_the_asgi_server(
    cli: dict[str, object], mode: str, routing: str
) -> None:
    """The "What runs" bullet on draining and the proxy's routing line name the server the export runs (they
    said Daphne runs through tandem.runtime.daphne and WebSockets go to Daphne)."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("gunicorn.workers.gasgi")
    for target, options in (("procfile", ONE), ("supervisor", ONE), ("systemd", PER_PROCESS)):
        if "uvicorn" in cli.values() and target == "procfile":
            continue  # refused (above)
        files = {f.path: f.content for f in render(Case(target, "x", mode=mode, cli=cli, options=options))}
        readme = " ".join(files["README.txt"].split())
        assert routing in readme, readme
        assert "tandem.runtime.daphne" not in readme and "Daphne" not in readme, readme
        server = "uvicorn" if "uvicorn" in cli.values() else "Gunicorn's ASGI worker"
        assert f"{server} runs" in readme, readme
        if options.per_process:
            assert f"systemd binds the {server} socket" in readme or (
                f"systemd binds the socket of {server}" in readme
            ), readme


@pytest.mark.parametrize(
    ("mode", "cli"),
    [
        pytest.param("split", {"ws_server": "gunicorn-asgi"}, id="gunicorn-asgi-split"),
        pytest.param("unified", {"server": "gunicorn-asgi", "proxy": "nginx"}, id="gunicorn-asgi-unified"),
        pytest.param("split", {"ws_server": "uvicorn", "procs": 2}, id="uvicorn-split"),
    ],
)
def test_per_process_units_pass_systemd_analyze_verify(mode: str, cli: dict[str, object]) -> None:
    """The units and socket unit written for another ASGI server are ones systemd accepts."""
    import os
    import shutil

    from tandem.exporters.systemd import quote
    from tandem.exporters.validate import check_units
    from tandem.plan import File
    from tests.unit.test_export_render import PYTHON

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    pytest.importorskip(MODULES[str(next(v for k, v in cli.items() if "server" in k)).split("-")[0]])
    python = quote(os.path.realpath(shutil.which("python3") or "/usr/bin/python3"))
    files = tuple(
        File(f.path, f.content.replace(quote(PYTHON), python))
        for f in render(Case("systemd", "verify", mode=mode, cli=cli, options=PER_PROCESS))
    )
    assert check_units(files, tool) is None
