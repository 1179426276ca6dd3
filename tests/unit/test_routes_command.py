"""`tandem routes` renders the Plan serve would run (issue 13 item 1): for each discovered route, each
--asgi-prefix, the static and media locations and the catch-all, the process that answers it in the chosen
mode and servers, and whether the proxy picks it by path prefix or Upgrade header.

The first half builds Plans in this process (tandem.plan.build_plan with a Preview target, as the command
does) from projects and route tables written here; the second runs the command on real small projects
(tests/small_projects.py, tests/corpus/) in a subprocess, as Django's settings are process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tandem.config import resolve_config
from tandem.errors import UsageError
from tandem.plan import Preview, build_plan
from tandem.project import INMEMORY_LAYER, ChannelLayer, Project
from tandem.routes import Route, RouteTable
from tandem.routeview import (
    APPLICATION,
    CATCH_ALL,
    PATH_PREFIX,
    SCHEMA,
    UPGRADE,
    RouteView,
    Row,
    route_view,
)
from tests.conftest import clean_env, tandem_command
from tests.small_projects import ASGI, ASGI_CATCH_ALL, copy_corpus, write_served_project

PYTHON = "/usr/bin/python3"

CHAT = Route("websocket", "ws/chat/<str:room>/", "/ws/chat/", "chat.consumers.ChatConsumer")
ECHO = Route("websocket", "^ws/echo/$", "/ws/echo/", "chat.consumers.EchoConsumer")
ANYWHERE = Route("websocket", "<path:anything>", "/", "chat.consumers.EchoConsumer")
EVENTS = Route("http", "events/<str:topic>/", "/events/", "chat.consumers.EventsConsumer")
LIVE_MEDIA = Route("websocket", "media/live/", "/media/live/", "chat.consumers.LiveConsumer")

EXAMPLE = RouteTable((CHAT, ECHO), ())


def make_project(tmp: Path) -> Project:
    return Project(
        root=tmp / "app",
        settings_module="mysite.settings",
        settings_source="test",
        asgi_app="mysite.asgi:application",
        asgi_source="test",
        wsgi_app="mysite.wsgi:application",
        wsgi_source="test",
        static_url="/static/",
        static_root=tmp / "collected",
        media_url="/media/",
        media_root=tmp / "uploads",
        channel_layer=ChannelLayer(INMEMORY_LAYER, "settings"),
        allowed_hosts=("testserver",),
        debug=False,
        installed_apps=(),
        data_upload_max_memory_size=2621440,
    )


def view(tmp: Path, routes: RouteTable = EXAMPLE, /, **cli: object) -> RouteView:
    config = resolve_config(cli, {}, {})
    plan = build_plan(config, make_project(tmp), routes, Preview(tmp / "run", PYTHON))
    return route_view(plan, routes, config.asgi_prefixes)


def row(found: RouteView, prefix: str) -> Row:
    (match,) = [r for r in found.rows if r.prefix == prefix]
    return match


def placed(found: RouteView) -> dict[str, tuple[str, tuple[str, ...], str]]:
    return {r.prefix: (r.server, r.processes, r.routed_by) for r in found.rows}


# --- from the Plan: each mode and server -----------------------------------------------------------------------


def test_unified_one_daphne_answers_everything(tmp_path: Path) -> None:
    found = view(tmp_path, mode="unified")
    assert found.mode == "unified" and found.proxy == ""
    assert placed(found) == {
        "/ws/chat/": ("daphne", ("daphne",), APPLICATION),
        "/ws/echo/": ("daphne", ("daphne",), APPLICATION),
        # tandem's static handler inside the server, by prefix
        "/static/": ("daphne", ("daphne",), PATH_PREFIX),
        "/media/": ("daphne", ("daphne",), PATH_PREFIX),
        "/": ("daphne", ("daphne",), APPLICATION),
    }
    assert row(found, "/").target == "mysite.asgi:application"  # Django's ASGI handler, not the WSGI app
    assert row(found, "/static/").target == f"{tmp_path / 'collected'}/"
    assert found.websocket_by == APPLICATION and found.websocket_prefixes == ()


def test_split_sends_websockets_to_daphne_and_the_rest_to_gunicorn(tmp_path: Path) -> None:
    found = view(tmp_path, mode="split")
    assert found.mode == "split" and found.proxy == "nginx"
    assert placed(found) == {
        "/ws/chat/": ("daphne", ("daphne",), PATH_PREFIX),
        "/ws/echo/": ("daphne", ("daphne",), PATH_PREFIX),
        "/static/": ("nginx", ("nginx",), PATH_PREFIX),
        "/media/": ("nginx", ("nginx",), PATH_PREFIX),
        "/": ("gunicorn", ("gunicorn",), CATCH_ALL),
    }
    assert row(found, "/").target == "mysite.wsgi:application"
    assert row(found, "/media/").target == f"{tmp_path / 'uploads'}/"
    assert found.websocket_by == PATH_PREFIX and found.websocket_prefixes == ("/ws/chat/", "/ws/echo/")


def test_split_and_unified_differ(tmp_path: Path) -> None:
    unified, split = view(tmp_path, mode="unified"), view(tmp_path, mode="split")
    assert {r.server for r in unified.rows} == {"daphne"}
    assert {r.server for r in split.rows} == {"daphne", "nginx", "gunicorn"}
    assert unified.to_json()["proxy"] is None and split.to_json()["proxy"] == "nginx"


def test_every_daphne_process_is_named(tmp_path: Path) -> None:
    found = view(tmp_path, mode="split", procs=3)
    assert row(found, "/ws/chat/").processes == ("daphne.1", "daphne.2", "daphne.3")
    assert row(found, "/ws/chat/").server == "daphne"
    assert row(found, "/ws/chat/").processes_text == "daphne.1, daphne.2, daphne.3"
    assert view(tmp_path, mode="split", procs=8).rows[0].processes_text == "daphne.1 .. daphne.8"


@pytest.mark.parametrize(
    ("cli", "websocket", "everything_else", "proxy"),
    [
        ({"mode": "unified", "server": "uvicorn", "procs": 2}, ("uvicorn.1", "uvicorn.2"), None, None),
        ({"mode": "unified", "server": "gunicorn-asgi"}, ("gunicorn-asgi",), None, None),
        ({"mode": "split", "ws_server": "uvicorn"}, ("uvicorn",), ("gunicorn",), "nginx"),
        (
            {"mode": "split", "ws_server": "gunicorn-asgi", "proxy": "caddy"},
            ("gunicorn-asgi",),
            ("gunicorn",),
            "caddy",
        ),
        ({"mode": "split", "http_server": "granian"}, ("daphne",), ("granian",), "nginx"),
        (
            {"mode": "split", "http_server": "granian", "ws_server": "uvicorn"},
            ("uvicorn",),
            ("granian",),
            "nginx",
        ),
    ],
)
def test_the_chosen_servers_answer(
    tmp_path: Path,
    cli: dict[str, object],
    websocket: tuple[str, ...],
    everything_else: tuple[str, ...] | None,
    proxy: str | None,
) -> None:
    found = view(tmp_path, **cli)
    assert row(found, "/ws/chat/").processes == websocket
    assert row(found, "/").processes == (everything_else or websocket)
    assert row(found, "/static/").processes == ((proxy,) if proxy else websocket)
    assert found.to_json()["proxy"] == proxy


def test_websockets_without_a_prefix_go_by_upgrade_header(tmp_path: Path) -> None:
    found = view(tmp_path, RouteTable((ANYWHERE,), ()), mode="split")
    assert found.websocket_by == UPGRADE and found.websocket_prefixes == ()
    (websocket,) = [r for r in found.rows if r.protocol == "websocket"]
    assert (websocket.server, websocket.routed_by) == ("daphne", UPGRADE)
    assert placed(found)["/"] == ("gunicorn", ("gunicorn",), CATCH_ALL)  # plain HTTP at / stays with Gunicorn


def test_asgi_prefixes_and_http_consumers_go_to_the_asgi_server(tmp_path: Path) -> None:
    routes = RouteTable((CHAT, EVENTS), ())
    found = view(tmp_path, routes, mode="split", ws_server="uvicorn", asgi_prefixes=("/sse/",))
    assert placed(found)["/events/"] == ("uvicorn", ("uvicorn",), PATH_PREFIX)
    sse = row(found, "/sse/")
    assert (sse.kind, sse.server, sse.routed_by, sse.pattern) == (
        "asgi-prefix",
        "uvicorn",
        PATH_PREFIX,
        "(--asgi-prefix)",
    )
    # unified: the same prefixes, one server, no proxy deciding anything
    unified = view(tmp_path, routes, mode="unified", asgi_prefixes=("/sse/",))
    assert placed(unified)["/sse/"] == ("daphne", ("daphne",), APPLICATION)


def test_an_http_consumer_without_a_prefix_is_shown_reaching_the_wsgi_server(tmp_path: Path) -> None:
    """No literal prefix: the proxy cannot send it to the ASGI server, and the table says so, not 'daphne'."""
    anywhere_http = Route("http", "<path:rest>", "/", "chat.consumers.EventsConsumer")
    found = view(tmp_path, RouteTable((CHAT, anywhere_http), ()), mode="split")
    (consumer,) = [r for r in found.rows if r.kind == "route" and r.protocol == "http"]
    assert (consumer.server, consumer.routed_by) == ("gunicorn", CATCH_ALL)


def test_the_longest_prefix_wins_as_in_nginx(tmp_path: Path) -> None:
    found = view(tmp_path, RouteTable((LIVE_MEDIA,), ()), mode="split")
    assert placed(found)["/media/live/"] == ("daphne", ("daphne",), PATH_PREFIX)
    assert placed(found)["/media/"] == ("nginx", ("nginx",), PATH_PREFIX)


def test_no_websocket_routes(tmp_path: Path) -> None:
    found = view(tmp_path, RouteTable((), ()), mode="split")
    assert found.websocket_by == "none"
    assert [r.kind for r in found.rows] == ["static", "media", "catch-all"]


def test_a_refused_combination_is_refused_as_serve_refuses_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--ws-server uvicorn is for split mode"):
        view(tmp_path, mode="unified", ws_server="uvicorn")


def test_the_json_schema(tmp_path: Path) -> None:
    data = view(tmp_path, mode="split", asgi_prefixes=("/sse/",)).to_json()
    assert list(data) == [
        "schema", "mode", "public_url", "proxy", "route_by", "websocket_prefixes", "routes", "static", "warnings"
    ]  # fmt: skip
    assert data["schema"] == SCHEMA == 1
    keys = ["kind", "prefix", "protocol", "server", "processes", "routed_by", "pattern", "target"]
    assert all(list(r) == keys for r in data["routes"] + data["static"])
    assert [r["kind"] for r in data["routes"]] == ["route", "route", "asgi-prefix", "catch-all"]
    assert [r["kind"] for r in data["static"]] == ["static", "media"]
    json.dumps(data)  # plain JSON types only


# --- real projects, through the command ------------------------------------------------------------------------


def routes_json(project: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = tandem_command(project, "routes", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_prefix(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["prefix"]: (r["server"], r["routed_by"]) for r in data["routes"] + data["static"]}


def test_a_served_project_split_and_unified(tmp_path: Path) -> None:
    project = write_served_project(tmp_path / "proj")
    split = routes_json(project, "--mode", "split", "--asgi-prefix", "/sse/")
    assert split["mode"] == "split" and split["proxy"] == "nginx"
    assert by_prefix(split) == {
        "/ws/echo/": ("daphne", "path prefix"),
        "/sse/": ("daphne", "path prefix"),
        "/static/": ("nginx", "path prefix"),
        "/": ("gunicorn", "catch-all"),
    }
    unified = routes_json(project, "--mode", "unified", "--server", "uvicorn", "--procs", "2")
    assert unified["mode"] == "unified" and unified["proxy"] is None
    assert {r["server"] for r in unified["routes"]} == {"uvicorn"}
    assert unified["routes"][0]["processes"] == ["uvicorn.1", "uvicorn.2"]
    assert unified["route_by"] == "application"


def test_a_catch_all_websocket_route_behind_caddy(tmp_path: Path) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI_CATCH_ALL)
    data = routes_json(project, "--mode", "split", "--proxy", "caddy", "--ws-server", "gunicorn-asgi")
    assert data["proxy"] == "caddy" and data["route_by"] == "Upgrade header"
    (websocket,) = [r for r in data["routes"] if r["protocol"] == "websocket"]
    assert (websocket["server"], websocket["routed_by"]) == ("gunicorn-asgi", "Upgrade header")
    assert by_prefix(data)["/static/"] == ("caddy", "path prefix")


def test_plain_django_has_no_websocket_routes(tmp_path: Path) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI.format(package="mysite"))
    data = routes_json(project, "--mode", "split", "--http-server", "granian")
    assert data["route_by"] == "none" and data["websocket_prefixes"] == []
    assert [(r["kind"], r["server"]) for r in data["routes"]] == [("catch-all", "granian")]


def test_corpus_newsroom_routes_news_to_the_asgi_server(tmp_path: Path) -> None:
    project = copy_corpus("newsroom", tmp_path)
    split = routes_json(project, "--mode", "split")
    assert by_prefix(split)["/ws/news/"] == ("daphne", "path prefix")
    assert by_prefix(split)["/"] == ("gunicorn", "catch-all")
    unified = routes_json(project)  # the default mode, as serve runs it
    assert unified["mode"] == "unified"
    assert by_prefix(unified)["/ws/news/"] == ("daphne", "application")


def test_corpus_without_static_root_names_tandems_own_directory_without_making_it(tmp_path: Path) -> None:
    project = copy_corpus("plainstatic", tmp_path)
    cache = tmp_path / "cache"
    data = routes_json(project, "--mode", "split", env=clean_env(XDG_CACHE_HOME=str(cache)))
    (static,) = data["static"]
    assert static["server"] == "nginx" and static["prefix"] == "/static/"
    assert static["target"].startswith(f"{cache}/django-tandem/static/plainstatic-")
    assert not cache.exists()  # routes only names it; serve makes it


def test_the_tandem_entry_point_prints_the_table(tmp_path: Path) -> None:
    project = write_served_project(tmp_path / "proj")
    tandem = Path(sys.executable).with_name("tandem")
    assert os.access(tandem, os.X_OK), f"{tandem}: the console script is not installed"
    result = subprocess.run(
        [str(tandem), "routes", "--mode", "split", "--procs", "2"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "split mode: nginx on http://127.0.0.1:8000/ routes each request"
    assert lines[1].split() == [
        "PREFIX",
        "PROTOCOL",
        "SERVER",
        "PROCESSES",
        "ROUTED",
        "BY",
        "PATTERN",
        "TARGET",
    ]
    assert lines[2].split() == [
        "/ws/echo/", "websocket", "daphne", "daphne.1,", "daphne.2", "path", "prefix", "ws/echo/",
        "mysite.consumers.EchoConsumer",
    ]  # fmt: skip
    assert lines[-2].split()[:6] == ["/", "http", "gunicorn", "gunicorn", "catch-all", "(everything"]
    assert lines[-1] == "WebSockets are routed by path prefix: /ws/echo/"
