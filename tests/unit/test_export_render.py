"""Every export target rendered from a Plan built as ``tandem export`` builds it (tandem.exporters.common's
export Context, then the topology), compared with golden files in tests/golden/<target>/, and checked by
the real tools where they are installed: ``systemd-analyze verify`` for units, ``nginx -t`` for the
server block. Fixed paths and a fixed probe token keep the files deterministic.

Regenerate with ``TANDEM_UPDATE_GOLDEN=1 pytest tests/unit/test_export_render.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tandem import __version__
from tandem.config import Config, resolve_config
from tandem.errors import UsageError
from tandem.exporters import export_files
from tandem.exporters.carried import carried
from tandem.exporters.common import ExportOptions, Launch, shared_fd, topology_flags
from tandem.exporters.roles import role_serve_args
from tandem.exporters.systemd import quote
from tandem.exporters.validate import check_units, nginx_conf
from tandem.plan import Export, File, Plan, build_plan
from tandem.project import INMEMORY_LAYER, REDIS_LAYER, ChannelLayer, Project
from tandem.proxies.validate import caddy_validate
from tandem.topologies import topology
from tests.nginx_check import harness, nginx_t
from tests.unit.test_nginx_render import example_routes

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("TANDEM_UPDATE_GOLDEN") == "1"
ROOT = Path("/srv/chat")
PYTHON = "/srv/chat/.venv/bin/python"
# What `tandem export` gives an edge's one service (its Plan has no app server naming them).
LAUNCH = Launch(PYTHON, str(ROOT), "chatsite.settings", str(ROOT))
SECRET = "s" * 24
EDGE = {"role": "edge", "upstreams": ("10.0.0.2", "10.0.0.3:9000:9001"), "edge_secret": SECRET}
APP = {"role": "app", "bind": "10.0.0.2", "channel_layer": "redis://10.0.0.9:6379/0", "edge_secret": SECRET}
EDGE_ARGS = (
    "--role",
    "edge",
    "--mode",
    "split",
    "--http-port",
    "8000",
    "--ws-port",
    "8001",
    "--upstream",
    "10.0.0.2",
    "--upstream",
    "10.0.0.3:9000:9001",
)
APP_ARGS = ("--role", "app", "--mode", "split", "--http-port", "8000", "--ws-port", "8001")

pytestmark = pytest.mark.usefixtures("django_settings")


@dataclass(frozen=True)
class Case:
    target: str
    name: str
    mode: str = "split"
    cli: dict[str, object] = field(default_factory=dict)
    options: ExportOptions = field(default_factory=lambda: ExportOptions(user="chat"))
    redis: bool = False


CASES = [
    Case("nginx", "split-unix"),
    # export nginx|caddy --mode unified: the proxy in front of Daphne alone.
    Case("nginx", "unified-unix", mode="unified", cli={"proxy": "nginx"}),
    Case("caddy", "unified", mode="unified", cli={"proxy": "caddy"}),
    Case("systemd", "split"),
    # The one service behind Caddy: its README names the proxy it runs. The one service's `tandem serve`
    # options are the CLI's (options_of).
    Case("systemd", "split-caddy", cli={"proxy": "caddy"}),
    Case("systemd", "unified", mode="unified", cli={"port": 8000}),
    Case("systemd", "per-process-split", options=ExportOptions(user="chat", per_process=True), redis=True),
    Case(
        "systemd", "per-process-unified", mode="unified", options=ExportOptions(user="chat", per_process=True)
    ),
    Case("procfile", "split"),
    Case("procfile", "split-tcp", cli={"internal": "tcp"}),
    Case("procfile", "unified", mode="unified", cli={"port": 8000}),
    Case("supervisor", "split", cli={"procs": 2}, redis=True),
    Case("supervisor", "unified", mode="unified"),
    # --proxy (flag, TANDEM_PROXY or settings): unified mode behind the proxy, and Caddy's site beside the servers.
    Case("procfile", "unified-caddy", mode="unified", cli={"port": 8000, "proxy": "caddy"}),
    Case("supervisor", "unified-nginx", mode="unified", cli={"proxy": "nginx"}),
    Case(
        "systemd",
        "per-process-split-caddy",
        cli={"proxy": "caddy"},
        options=ExportOptions(user="chat", per_process=True),
    ),
    # Several hosts (--role): the edge's nginx and its one service running `tandem serve --role edge`
    # (an edge has no app server for the per-process exports: refused below); an app host's servers.
    Case("nginx", "edge-split", cli=EDGE),
    Case(
        "systemd",
        "edge-split",
        cli=EDGE,
        options=ExportOptions(user="chat", launch=LAUNCH),
    ),
    Case("systemd", "app-split", cli=APP),
    Case("systemd", "per-process-app-split", cli=APP, options=ExportOptions(user="chat", per_process=True)),
    Case("procfile", "app-split", cli=APP),
    Case("supervisor", "app-split", cli=APP),
]


def project(redis: bool) -> Project:
    return Project(
        root=ROOT,
        settings_module="chatsite.settings",
        settings_source="test",
        asgi_app="chatsite.asgi:application",
        asgi_source="test",
        wsgi_app="chatsite.wsgi:application",
        wsgi_source="test",
        static_url="/static/",
        static_root=ROOT / "staticfiles",
        media_url="/media/",
        media_root=ROOT / "media",
        channel_layer=ChannelLayer(REDIS_LAYER if redis else INMEMORY_LAYER, "settings"),
        allowed_hosts=("chat.example.com",),
        debug=False,
        installed_apps=(),
        data_upload_max_memory_size=2621440,
    )


def given(case: Case) -> Config:
    """The Config `tandem export` resolves from the case's options (as its command line)."""
    return resolve_config({"mode": case.mode, "port": 80, "bind": "0.0.0.0", **case.cli}, {}, {})


def plan_of(case: Case) -> Plan:
    config = given(case)
    if config.procs is None:
        config = resolve_config(
            {"mode": case.mode, "port": 80, "bind": "0.0.0.0", "procs": 1, **case.cli}, {}, {}
        )
    served = case.target == "systemd" and not case.options.per_process  # as `tandem export` builds it
    target = Export(Path("/run/tandem"), "golden-token", PYTHON, shared_fd(case.target, case.options), served)
    routes = example_routes() if topology(case.mode).needs_routes else None
    return build_plan(config, project(case.redis), routes, target)


def options_of(case: Case) -> ExportOptions:
    """The case's ExportOptions with the one service's `tandem serve` options as `tandem export` computes
    them from what it was given (tandem.exporters.carried)."""
    if case.target != "systemd" or case.options.per_process:
        return case.options
    serve = carried(case.target, given(case))
    return replace(
        case.options,
        serve_args=serve.args,
        serve_env=serve.environment,
        secret_env=serve.secrets,
        access_log_file=serve.access_log_file,
    )


def render(case: Case) -> tuple[File, ...]:
    return export_files(case.target, plan_of(case), options_of(case))


def normalise(content: str) -> str:
    return content.replace(f"django-tandem {__version__}", "django-tandem @VERSION@")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.target}-{c.name}")
def test_golden(case: Case) -> None:
    directory = GOLDEN / case.target / case.name
    files = render(case)
    if UPDATE:
        shutil.rmtree(directory, ignore_errors=True)
    for file in files:
        golden = directory / file.path
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(normalise(file.content))
        assert golden.exists(), f"no golden file {golden} (TANDEM_UPDATE_GOLDEN=1 writes it)"
        assert normalise(file.content) == golden.read_text(), f"{golden} differs"
    expected = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert sorted(f.path for f in files) == expected


@pytest.mark.parametrize("case", [c for c in CASES if c.target == "systemd"], ids=lambda c: c.name)
def test_units_pass_systemd_analyze_verify(case: Case, tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (installing systemd would change this box's init)")
    # verify wants the ExecStart program to exist: the fixed python path becomes this one.
    files = tuple(
        File(
            f.path,
            f.content.replace(
                quote(PYTHON), quote(os.path.realpath(shutil.which("python3") or "/usr/bin/python3"))
            ),
        )
        for f in render(case)
    )
    assert check_units(files, tool) is None


def test_systemd_analyze_refusal_is_reported() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    broken = File("tandem.service", "[Service]\nType=notify\nExecStart=relative/path serve\n")
    with pytest.raises(Exception, match="systemd-analyze verify rejected the units"):
        check_units((broken,), tool)


def proxy_config(case: Case) -> str | None:
    """Which proxy config the case's export writes beside the app servers (None: Daphne alone, or the one
    systemd unit, whose `tandem serve` runs the proxy itself)."""
    if case.target == "systemd" and not case.options.per_process:
        return None
    if case.cli.get("role") == "app":
        return None  # an app host runs no proxy: the edge's nginx is exported on the edge
    if case.mode == "split" or "proxy" in case.cli:
        return str(case.cli.get("proxy", "nginx"))
    return None


WITH_NGINX = [c for c in CASES if proxy_config(c) == "nginx"]
WITH_CADDY = [c for c in CASES if proxy_config(c) == "caddy"]


@pytest.mark.parametrize("case", WITH_NGINX, ids=lambda c: f"{c.target}-{c.name}")
def test_nginx_block_passes_nginx_t(case: Case, nginx_bin: str, tmp_path: Path) -> None:
    conf = nginx_conf(case.target, render(case))
    assert conf is not None
    path = tmp_path / "tandem.conf"
    path.write_text(conf.content)
    nginx_t(nginx_bin, harness(tmp_path / "harness", path))


@pytest.mark.parametrize("case", WITH_CADDY, ids=lambda c: f"{c.target}-{c.name}")
def test_caddy_site_passes_caddy_validate(case: Case, caddy_bin: str, tmp_path: Path) -> None:
    conf = next(f for f in render(case) if f.path in ("caddy/Caddyfile", "Caddyfile"))
    path = tmp_path / "Caddyfile"
    path.write_text(conf.content)
    caddy_validate(caddy_bin, path)


PROXY_FILES = ("nginx/tandem.conf", "caddy/Caddyfile")
OWN_FILES = {"nginx": "tandem.conf", "caddy": "Caddyfile"}  # export nginx|caddy: the config is the export
ON_UNIX_SOCKETS = [
    c for c in (*WITH_NGINX, *WITH_CADDY) if c.target not in ("nginx", "caddy") and "internal" not in c.cli
]


@pytest.mark.parametrize("case", ON_UNIX_SOCKETS, ids=lambda c: f"{c.target}-{c.name}")
def test_the_proxy_config_names_the_sockets_the_servers_bind(case: Case) -> None:
    """The proxy beside the exported servers sends to the sockets they listen on (in unified mode behind
    the proxy: Daphne's internal socket, not the public port), and to nothing else."""
    files = render(case)
    conf = next(f for f in files if f.path in PROXY_FILES).content
    servers = " ".join(f.content for f in files if f.path not in (*PROXY_FILES, "README.txt"))
    sockets = set(re.findall(r"/run/tandem/[\w.-]+\.sock", conf))
    assert sockets, conf
    assert sockets == {s for s in sockets if s in servers}
    wanted = (
        {"/run/tandem/daphne.sock"}
        if case.mode == "unified"
        else {"/run/tandem/gunicorn.sock", "/run/tandem/daphne.sock"}
    )
    assert sockets == wanted


BEHIND_A_PROXY_UNIFIED = [c for c in CASES if c.mode == "unified" and "proxy" in c.cli]


@pytest.mark.parametrize("case", BEHIND_A_PROXY_UNIFIED, ids=lambda c: f"{c.target}-{c.name}")
def test_unified_readme_commands_keep_the_proxy_and_name_no_gunicorn(case: Case) -> None:
    """Unified mode behind a proxy: every tandem command the README gives carries --mode unified and, for
    serve and the process managers, --proxy (without it unified mode is Daphne alone on the public port,
    not on the socket the proxy sends to: 502s); and no word of Gunicorn, which unified mode does not run."""
    readme = next(f for f in render(case) if f.path == "README.txt").content
    proxy = case.cli["proxy"]
    given = re.findall(r"tandem (?:serve|export) [^`\n]*", readme)
    runs = [c for c in given if re.match(r"tandem (serve|export (systemd|supervisor|procfile))\b", c)]
    assert runs, readme
    for command in given:
        assert "--mode unified" in command, command
    for command in runs:
        assert f"--mode unified --proxy {proxy}" in command, command
    assert "gunicorn" not in readme.lower()


@pytest.mark.parametrize("case", BEHIND_A_PROXY_UNIFIED, ids=lambda c: f"{c.target}-{c.name}")
def test_unified_proxy_config_comments_name_no_gunicorn(case: Case) -> None:
    """The nginx config or Caddyfile in front of unified mode's Daphne alone: its comments speak of no
    Gunicorn, and a tandem command one suggests carries the Plan's --mode and --proxy."""
    plan = plan_of(case)
    own = OWN_FILES.get(case.target)
    conf = next(f for f in export_files(case.target, plan, case.options) if f.path in (*PROXY_FILES, own))
    comments = [line.strip() for line in conf.content.splitlines() if line.strip().startswith("#")]
    assert comments and not [line for line in comments if "gunicorn" in line.lower()], conf.content
    suggested = re.findall(r"tandem (?:serve|export) [^`\n]*", "\n".join(comments))
    assert suggested or not conf.path.endswith("Caddyfile"), conf.content  # the --public-url hint
    for command in suggested:
        assert topology_flags(plan) in command, command


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_one_service_readme_names_the_proxy_it_runs(proxy: str) -> None:
    """Split mode's tandem.service runs the proxy of --proxy: its README says which, and how to put the
    host's own in front instead, never naming the other one."""
    case = Case("systemd", "split", cli={"proxy": proxy})
    files = {f.path: f.content for f in render(case)}
    readme = files["README.txt"]
    name = {"nginx": "nginx", "caddy": "Caddy"}[proxy]
    other = {"nginx": "caddy", "caddy": "nginx"}[proxy]
    assert f"tandem runs its own {name} on port 80" in readme, readme
    assert f"{name} reloads if the routing changed" in readme, readme
    assert f"`tandem export {proxy}`" in readme and f"--mode split --proxy {proxy}`" in readme, readme
    assert other not in readme.lower(), readme
    assert f"{name} reloads" in files["tandem.service"] and other not in files["tandem.service"].lower()


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.target == "systemd" and c.mode == "unified"], ids=lambda c: c.name
)
def test_unified_systemd_units_and_readme_name_no_gunicorn(case: Case) -> None:
    """Unified mode runs Daphne alone: neither its units' comments nor its README's reload instructions
    speak of Gunicorn (or of a tandem-gunicorn.service there is not)."""
    for file in render(case):
        assert "gunicorn" not in file.content.lower(), f"{file.path}:\n{file.content}"


def test_procfile_lines_are_the_plans_commands() -> None:
    """Each Procfile line, as /bin/sh reads it, is exactly the Plan's argv with its environment."""
    case = Case("procfile", "split")
    procfile = next(f for f in render(case) if f.path == "Procfile").content
    for line in procfile.splitlines():
        name, _, command = line.partition(": ")
        words = shlex.split(command)
        assert words[:4] == ["cd", str(ROOT), "&&", "exec"] and words[4] == "env"
        assert "DJANGO_SETTINGS_MODULE=chatsite.settings" in words and f"PYTHONPATH={ROOT}" in words
        program = words[words.index(PYTHON) :]
        if name == "gunicorn":
            assert program[-1] == "tandem.runtime.wsgi:application" and "--workers" in program
        else:
            assert program[:3] == [PYTHON, "-m", "tandem.runtime.daphne"] and "--ping-timeout" in program


def test_procfile_refuses_daphnes_that_cannot_share_a_socket() -> None:
    with pytest.raises(UsageError, match="cannot share one socket"):
        render(Case("procfile", "split", cli={"procs": 2}))


def test_systemd_quoting_survives_specifiers_and_variables() -> None:
    assert quote('a "b" 100% $HOME \\x', exec_line=True) == '"a \\"b\\" 100%% $$HOME \\\\x"'
    assert quote("50%") == '"50%%"'


def test_role_serve_args_are_what_the_role_cases_give() -> None:
    """The role cases' one service runs `tandem serve` with the role's options, then what else the export
    was given (the app host's channel layer); the edge secret goes to the environment file only."""
    for cli, args, extra in (
        (EDGE, EDGE_ARGS, ()),
        (APP, APP_ARGS, ("--channel-layer", APP["channel_layer"])),
    ):
        config = resolve_config({"mode": "split", "port": 80, **cli}, {}, {})
        assert tuple(role_serve_args("systemd", config)) == args
        serve = carried("systemd", config)
        assert serve.args == (*args, *extra) and serve.secrets == (("TANDEM_EDGE_SECRET", SECRET),)


def test_edge_service_runs_tandem_serve_as_the_edge() -> None:
    """An edge's tandem.service starts `tandem serve --role edge` with the upstreams, from the Python and
    project export ran with, writes only STATIC_ROOT (collected there at start; the app hosts write the
    uploads), and its README says where the edge secret goes and speaks of no app server of its own."""
    case = next(c for c in CASES if c.name == "edge-split" and c.target == "systemd")
    files = {f.path: f.content for f in render(case)}
    assert sorted(files) == ["README.txt", "tandem.env", "tandem.service"]
    assert f'TANDEM_EDGE_SECRET="{SECRET}"' in files["tandem.env"]
    unit = files["tandem.service"]
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    assert words[:4] == [PYTHON, "-m", "tandem", "serve"], words
    assert words[words.index("--role") : words.index("--role") + 4] == ["--role", "edge", "--mode", "split"]
    assert [words[i + 1] for i, w in enumerate(words) if w == "--upstream"] == [
        "10.0.0.2",
        "10.0.0.3:9000:9001",
    ]
    assert SECRET not in unit and SECRET not in files["README.txt"]
    assert f"WorkingDirectory={ROOT}" in unit and '"DJANGO_SETTINGS_MODULE=chatsite.settings"' in unit
    assert [line for line in unit.splitlines() if line.startswith("ReadWritePaths=")] == [
        f"ReadWritePaths=-{ROOT}/staticfiles"
    ]
    readme = files["README.txt"]
    assert "`tandem serve --role edge --mode split`" in readme, readme
    assert (
        "TANDEM_EDGE_SECRET=" in readme
        and "tandem export nginx --role edge --mode split --http-port 8000 --ws-port 8001 --upstream"
        in readme
    )
    for text in (unit, readme):
        assert "daphne" not in text.lower() and "gunicorn" not in text.lower(), text


def test_app_service_readme_names_the_role() -> None:
    """An app host's README gives the command its unit runs (--role app --mode split, not "--mode app")."""
    case = next(c for c in CASES if c.name == "app-split" and c.target == "systemd")
    readme = next(f for f in render(case) if f.path == "README.txt").content
    assert "`tandem serve --role app --mode split`" in readme and "--mode app" not in readme, readme
    assert "TANDEM_EDGE_SECRET=" in readme


@pytest.mark.parametrize(
    ("target", "options"),
    [
        ("procfile", ExportOptions(user="chat")),
        ("supervisor", ExportOptions(user="chat")),
        ("systemd", ExportOptions(user="chat", per_process=True)),
    ],
    ids=["procfile", "supervisor", "systemd-per-process"],
)
def test_edge_per_process_exports_are_refused_naming_the_alternatives(
    target: str, options: ExportOptions
) -> None:
    """An edge runs nginx alone: the exports that start app servers one by one have nothing to start there
    (they crashed with IndexError), and say what to export instead."""
    with pytest.raises(UsageError) as caught:
        render(Case(target, "edge", cli=EDGE, options=options))
    assert "an edge runs no app server" in str(caught.value)
    assert "export systemd --role edge" in str(caught.value.hint) and "export nginx --role edge" in str(
        caught.value.hint
    )


@pytest.mark.parametrize(("role", "target"), [("app", "nginx"), ("app", "caddy"), ("edge", "caddy")])
def test_role_refuses_a_proxy_it_does_not_run(role: str, target: str) -> None:
    config = resolve_config({"mode": "split", "port": 80, **(EDGE if role == "edge" else APP)}, {}, {})
    with pytest.raises(UsageError):
        role_serve_args(target, config)


@pytest.mark.parametrize("mode", ["split", "unified"])
def test_caddy_readme_public_url_hint_is_the_caddyfiles(mode: str) -> None:
    """export caddy's README and its Caddyfile's comment suggest the same `tandem export caddy ...
    --public-url` command, with the Plan's --mode and --proxy caddy (the README said --mode alone)."""
    case = Case("caddy", mode, mode=mode, cli={"proxy": "caddy"})
    files = {f.path: f.content for f in render(case)}
    hints = [
        re.findall(r"tandem export caddy (.*?) --public-url", files[name])
        for name in ("README.txt", "Caddyfile")
    ]
    assert hints[0] and hints[0] == hints[1], hints
    assert hints[0][0] == topology_flags(plan_of(case)) == f"--mode {mode} --proxy caddy"


# --- the one service runs the Plan the export rendered (tandem.exporters.carried) ---------------------------

PASSWORD = "hunter2-not-on-the-command-line"


def one_service(
    cli: dict[str, object],
    environ: dict[str, str] | None = None,
    settings: dict[str, object] | None = None,
    cwd: str | None = None,
) -> tuple[Config, dict[str, File]]:
    """`tandem export systemd`'s files for what it was given (flags, its environment, settings.TANDEM), run
    in ``cwd`` (default: this process's)."""
    config = resolve_config({"mode": "split", "port": 80, "bind": "0.0.0.0", **cli}, environ or {}, settings)
    target = Export(Path("/run/tandem"), "golden-token", PYTHON, None, served=True)
    plan = build_plan(config, project(True), example_routes(), target)
    serve = carried("systemd", config, cwd)
    options = ExportOptions(
        user="chat",
        serve_args=serve.args,
        serve_env=serve.environment,
        secret_env=serve.secrets,
        access_log_file=serve.access_log_file,
        launch=LAUNCH,  # an edge's: its Plan runs no app server to take them from
    )
    return config, {f.path: f for f in export_files("systemd", plan, options)}


def unit_config(files: dict[str, File]) -> Config:
    """The Config the unit's `tandem serve` resolves on the host: its ExecStart parsed by serve's own
    options, its Environment= lines and the environment file's (installed) as TANDEM_* variables."""
    from tandem.cli.base import cli_values
    from tandem.cli.run import serve

    unit = files["tandem.service"].content
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart=").replace("$$", "$"))
    assert words[:4] == [PYTHON, "-m", "tandem", "serve"], words
    context = serve.make_context("serve", words[4:])
    environ = {}
    for line in unit.splitlines():
        if line.startswith("Environment="):
            key, _, value = shlex.split(line.removeprefix("Environment="))[0].partition("=")
            environ[key] = value
    if "tandem.env" in files:
        environ.update(read_env_file(files["tandem.env"]))
    return resolve_config(cli_values(context.params), environ, {})


def read_env_file(file: File) -> dict[str, str]:
    """The TANDEM_* variables of an environment file as a shell reads it (systemd's double-quoted rules are
    the same: backslash escapes only \\ " ` $ there)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / file.path
        path.write_text(file.content)
        dump = subprocess.run(
            ["sh", "-c", 'set -a; . "$1"; exec env -0', "sh", str(path)],
            capture_output=True,
            check=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        ).stdout.decode()
    pairs = (item.partition("=") for item in dump.split("\0") if item.startswith("TANDEM_"))
    return {key: value for key, _, value in pairs}


@pytest.mark.parametrize(
    ("cli", "environ", "flags"),
    [
        ({"channel_layer": "redis://10.0.0.9:6379/0"}, {}, ("--channel-layer redis://10.0.0.9:6379/0",)),
        ({"channel_layer": f"redis://:{PASSWORD}@10.0.0.9:6379/0"}, {}, ()),
        ({"channel_layer": f"rediss://app:{PASSWORD}@redis.example.com:6380/1"}, {}, ()),
        ({"procs": 4}, {}, ("--procs 4",)),
        ({}, {"TANDEM_PROCS": "3"}, ("--procs 3",)),
        # Given as the default: still repeated (settings.TANDEM on the host may say granian).
        ({"http_server": "gunicorn", "threads": 4}, {}, ("--http-server gunicorn", "--threads 4")),
        (
            {},
            {"TANDEM_WS_SERVER": "daphne", "TANDEM_WORKERS": "auto"},
            ("--ws-server daphne", "--workers auto"),
        ),
        # Servers that adopt the socket tandem binds: the one service runs tandem serve, which binds it.
        ({"http_server": "granian"}, {}, ("--http-server granian",)),
        ({}, {"TANDEM_WS_SERVER": "uvicorn"}, ("--ws-server uvicorn",)),
        (
            {},
            {"TANDEM_GC_THRESHOLD": "20000", "TANDEM_ACCESS_LOG": "0"},
            ("--gc-threshold 20000", "--no-access-log"),
        ),
        # No serve flag says these: the unit's Environment= lines do.
        ({}, {"TANDEM_MAX_BODY_SIZE": "50m", "TANDEM_PING_TIMEOUT": "45"}, ()),
        ({}, {"TANDEM_DIAGNOSTIC_TOKEN": PASSWORD}, ()),
    ],
    ids=[
        "layer",
        "layer-password",
        "layer-user-password",
        "procs",
        "procs-env",
        "http-server",
        "ws-server-env",
        "granian",
        "uvicorn-env",
        "gc-access-log-env",
        "env-only",
        "diagnostic-token",
    ],
)
def test_one_service_runs_the_config_the_export_was_given(
    cli: dict[str, object], environ: dict[str, str], flags: tuple[str, ...]
) -> None:
    """Every option given to `tandem export systemd` (flag or TANDEM_* variable) reaches the `tandem serve`
    its unit runs: the Config serve resolves there from ExecStart, Environment= and the environment file is
    the export's (bind, port and runtime dir aside: the export sets them). It lost --channel-layer, so an
    app host's unit refused to start (E015). A secret is never in the unit or the README (ps shows the
    command line), only in tandem.env, mode 0600."""
    config, files = one_service(cli, environ)
    on_host = unit_config(files)
    skip = {"runtime_dir"}
    assert {k: v for k, v in on_host.values().items() if k not in skip} == {
        k: v for k, v in config.values().items() if k not in skip
    }
    exec_start = next(
        line for line in files["tandem.service"].content.splitlines() if line.startswith("ExecStart=")
    )
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    for flag in flags:
        assert f" {flag} " in f"{' '.join(words)} ", words
    for text in (files["tandem.service"].content, files["README.txt"].content):
        assert PASSWORD not in text, text
    secret = PASSWORD in " ".join(str(v) for v in (*cli.values(), *environ.values()))
    assert ("tandem.env" in files) == secret, sorted(files)
    if secret:
        assert files["tandem.env"].mode == 0o600
        assert PASSWORD in files["tandem.env"].content
        assert "sudo install -D -m 600 tandem.env /etc/tandem/tandem.env" in files["README.txt"].content


def test_edge_service_serves_the_plan_the_export_rendered() -> None:
    """An edge's tandem.service, exported with the app hosts' ports (--http-port/--ws-port: an --upstream's
    defaults), runs `tandem serve --role edge` with the Config the export had, so the nginx it runs sends
    to the ports the export rendered. ExecStart lacked them: the host's nginx sent to 8000/8001."""
    config, files = one_service({**EDGE, "http_port": 9100, "ws_port": 9101})
    on_host = unit_config(files)
    skip = {"runtime_dir"}
    assert {k: v for k, v in on_host.values().items() if k not in skip} == {
        k: v for k, v in config.values().items() if k not in skip
    }
    target = Export(Path("/run/tandem"), "golden-token", PYTHON, None, served=True)
    exported = build_plan(config, project(False), example_routes(), target).proxy
    served = build_plan(on_host, project(False), example_routes(), target).proxy
    assert exported is not None and served == exported
    assert exported.wsgi_servers == ("10.0.0.2:9100", "10.0.0.3:9000")
    assert exported.asgi_servers == ("10.0.0.2:9101", "10.0.0.3:9001")
    # The README's alternative, the host's own nginx: exported with the same ports.
    readme = " ".join(files["README.txt"].content.split())
    assert (
        "`tandem export nginx --role edge --mode split --http-port 9100 --ws-port 9101 --upstream" in readme
    )


def read_write_paths(unit: str) -> list[str]:
    return [
        line.removeprefix("ReadWritePaths=-")
        for line in unit.splitlines()
        if line.startswith("ReadWritePaths=")
    ]


@pytest.mark.parametrize(
    ("cli", "environ", "settings", "directory"),
    [
        ({}, {"TANDEM_ACCESS_LOG_FILE": "/var/log/chat/access.log"}, None, "/var/log/chat"),
        # From settings.TANDEM: not repeated, the host reads it; relative: the unit's WorkingDirectory's.
        ({}, {}, {"ACCESS_LOG_FILE": "logs/access.log"}, f"{ROOT}/logs"),
        # An edge's nginx writes it, in the same unit.
        (EDGE, {"TANDEM_ACCESS_LOG_FILE": "/var/log/edge/access.log"}, None, "/var/log/edge"),
        ({}, {"TANDEM_ACCESS_LOG_FILE": "/var/log/chat/access.log", "TANDEM_ACCESS_LOG": "0"}, None, None),
    ],
    ids=["env", "settings-relative", "edge", "access-log-off"],
)
def test_one_service_may_write_its_access_log_file(
    cli: dict[str, object], environ: dict[str, str], settings: dict[str, object] | None, directory: str | None
) -> None:
    """Under ProtectSystem=strict the one service writes only its runtime directory and ReadWritePaths=:
    the directory of the access log file its `tandem serve` appends to is one of them (it was not, so the
    service could not open its log), and the README lists it with the others. Off: nothing is added."""
    _, files = one_service(cli, environ, settings)
    paths = read_write_paths(files["tandem.service"].content)
    readme = files["README.txt"].content
    if directory is None:
        assert not [p for p in paths if "log" in p] and "/var/log" not in readme, paths
        return
    assert paths.count(directory) == 1 and all(os.path.isabs(p) for p in paths), paths
    assert f"\n  {directory}\n" in readme, readme
    assert (
        "uploads, collected static files and the access log are written here"
        in files["tandem.service"].content
    )


def test_one_service_carries_paths_resolved_where_the_export_ran() -> None:
    """A relative path given to the export (TANDEM_ACCESS_LOG_FILE=logs/access.log, the TLS certificate and
    key, a program named by its path) names a file where the export ran; the unit's `tandem serve` runs in
    the project's directory (WorkingDirectory=), where the same words name another file. They are carried
    absolute, resolved where the export ran (they were carried as typed); a program's bare name stays a
    name looked up on PATH, and an absolute path is kept."""
    where = "/home/deploy/checkout"
    environ = {
        "TANDEM_ACCESS_LOG_FILE": "logs/../logs/access.log",
        "TANDEM_TLS_CERT": "certs/chat.pem",
        "TANDEM_TLS_KEY": "./certs/chat.key",
        "TANDEM_NGINX": "bin/nginx",
        "TANDEM_CADDY": "caddy",
        "TANDEM_REDIS_SERVER": "/usr/bin/redis-server",
    }
    serve = carried("systemd", resolve_config({"mode": "split", "port": 80}, environ, {}), where)
    words = " ".join(serve.args)
    for flag, value in (
        ("--access-log-file", f"{where}/logs/access.log"),
        ("--tls-cert", f"{where}/certs/chat.pem"),
        ("--tls-key", f"{where}/certs/chat.key"),
        ("--nginx", f"{where}/bin/nginx"),
        ("--caddy", "caddy"),
        ("--redis-server", "/usr/bin/redis-server"),
    ):
        assert f"{flag} {value}" in words, words
    assert serve.access_log_file == f"{where}/logs/access.log"
    # Rendered: ExecStart and the directory the unit may write, both the file's where the export ran.
    _, files = one_service({}, {"TANDEM_ACCESS_LOG_FILE": "logs/access.log"}, cwd=where)
    unit = files["tandem.service"].content
    assert f'"--access-log-file" "{where}/logs/access.log"' in unit, unit
    assert f"{where}/logs" in read_write_paths(unit) and f"{ROOT}/logs" not in read_write_paths(unit)


def test_every_path_option_is_resolved_when_carried() -> None:
    """An option whose value is a path or a program (its metavar says so) is in carried.PATHS or PROGRAMS,
    so a path option added later is resolved too, not carried as typed."""
    from tandem.exporters.carried import DECIDED, PATHS, PROGRAMS
    from tandem.options import CONFIG_OPTIONS

    paths = {o.name for o in CONFIG_OPTIONS if o.metavar in ("PATH", "FILE", "DIR") and o.name not in DECIDED}
    assert paths == PATHS | PROGRAMS


def test_one_service_leaves_settings_to_the_host() -> None:
    """Options from settings.TANDEM are the project's: the host reads the same settings, so the unit does
    not freeze them on its command line (a later settings change still takes effect there)."""
    config, files = one_service({}, {}, {"PROCS": 3, "CHANNEL_LAYER": "redis://10.0.0.9:6379/0"})
    unit = files["tandem.service"].content
    assert "--procs" not in unit and "--channel-layer" not in unit and "tandem.env" not in files
    assert config.procs == 3


def test_environment_file_values_survive_quoting() -> None:
    """A password with quotes, backslashes, $ and spaces reads back as written (systemd's and sh's
    double-quoted rules are the same for these)."""
    url = 'redis://:p"a\\s$s `w d%@10.0.0.9:6379/0'
    _, files = one_service({"channel_layer": url})
    assert read_env_file(files["tandem.env"]) == {"TANDEM_CHANNEL_LAYER": url}


def test_the_one_service_exports_servers_that_adopt_tandems_socket() -> None:
    """Granian and uvicorn only adopt a socket tandem bound: the one service runs `tandem serve`, so its
    export writes them (it refused them, though the host would have run them). Granian under a process
    manager has no socket handed to it, and --per-process still says so."""
    for cli in ({"http_server": "granian"}, {"ws_server": "uvicorn"}):
        _, files = one_service(cli)
        assert "tandem.service" in files
    case = Case(
        "systemd",
        "per-process",
        cli={"http_server": "granian"},
        options=ExportOptions(user="chat", per_process=True),
    )
    with pytest.raises(UsageError, match="runs only under tandem serve"):
        render(case)


@pytest.mark.parametrize(
    "case",
    [
        Case(
            "systemd", "uvicorn-split", cli={"ws_server": "uvicorn"}, options=ExportOptions(per_process=True)
        ),
        Case(
            "systemd",
            "uvicorn-unified",
            mode="unified",
            cli={"server": "uvicorn", "proxy": "nginx"},
            options=ExportOptions(per_process=True),
        ),
    ],
    ids=lambda c: c.name,
)
def test_readme_names_the_asgi_server_the_units_run(case: Case) -> None:
    """systemd's per-process units can run uvicorn (socket activation hands it the shared fd): the README's
    "What runs" lines name it, not Daphne, for its own line and for what Gunicorn leaves to it."""
    pytest.importorskip("uvicorn")
    files = {f.path: f.content for f in render(case)}
    assert any("tandem.runtime.uvicorn" in content for content in files.values()), files
    readme = files["README.txt"]
    what_runs = readme.split("What runs\n---------\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert any(line.split()[0].startswith("uvicorn") for line in what_runs), readme
    for line in what_runs:
        assert "Daphne" not in line, readme
        if line.split()[0].startswith("uvicorn"):
            assert "uvicorn (ASGI) on" in line or "uvicorn on" in line, line
