"""Process roles are an enum (issue 13 item 5): every process a Plan holds carries a ``Role`` member, and every
table that decides a process's stop order, reload or routing by its role names only roles that exist (a typo,
"ngnix", would otherwise make a rule silently never apply)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem import routeview
from tandem.config import resolve_config
from tandem.exporters import common as export_common
from tandem.plan import Export, Role, build_plan
from tandem.servers import ASGI_ROLES, HUP_RELOAD_ROLES
from tandem.supervisor import stopping
from tandem.topologies import topology
from tests.unit.test_export_render import PYTHON, project
from tests.unit.test_nginx_render import example_routes

pytestmark = pytest.mark.usefixtures("django_settings")


@pytest.mark.parametrize(
    "cli",
    [
        {"mode": "split", "procs": 2},
        {"mode": "split", "proxy": "caddy"},
        {"mode": "unified", "procs": 1},
        {"mode": "unified", "proxy": "nginx"},
    ],
    ids=["split-nginx-redis", "split-caddy", "unified", "unified-behind-nginx"],
)
def test_every_process_of_a_plan_has_a_role_member(cli: dict[str, object]) -> None:
    config = resolve_config({"port": 80, "bind": "0.0.0.0", **cli}, {}, {})
    routes = example_routes() if topology(str(cli["mode"])).needs_routes else None
    plan = build_plan(config, project(redis=True), routes, Export(Path("/run/tandem"), "t", PYTHON, None))
    roles = [process.role for process in plan.processes]
    assert roles and all(type(role) is Role for role in roles), roles
    if "proxy" in cli or cli["mode"] == "split":
        assert Role(str(cli.get("proxy", "nginx"))) in roles


def test_role_tables_name_only_roles() -> None:
    known = {role.value for role in Role}
    tables = {
        "stopping.STOP_SIGNALS": set(stopping.STOP_SIGNALS),
        "stopping.PROXY_ROLES": set(stopping.PROXY_ROLES),
        "stopping.APP_ROLES": set(stopping.APP_ROLES),
        "servers.HUP_RELOAD_ROLES": set(HUP_RELOAD_ROLES),
        "servers.ASGI_ROLES": set(ASGI_ROLES),
        "exporters.common.APP_ROLES": set(export_common.APP_ROLES),
        "routeview.HELPERS": set(routeview.HELPERS),
        "routeview.PROXIES": set(routeview.PROXIES),
    }
    unknown = {name: sorted(values - known) for name, values in tables.items() if values - known}
    assert unknown == {}
