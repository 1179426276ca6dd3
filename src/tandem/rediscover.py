"""Route discovery in a fresh interpreter, for a reload: the running tandem process imported the project's
code once at start, so only a new process sees the routing as the files say now.

``python -m tandem.rediscover module:attr`` prints the RouteTable as JSON (settings from the environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

from tandem.errors import ProjectError
from tandem.pythonpath import honour_pythonpath
from tandem.routes import Route, RouteTable


def table_to_json(table: RouteTable) -> str:
    routes = [route.__dict__ for route in table.routes]
    return json.dumps({"routes": routes, "warnings": list(table.warnings)})


def table_from_json(text: str) -> RouteTable:
    data = json.loads(text)
    return RouteTable(routes=tuple(Route(**r) for r in data["routes"]), warnings=tuple(data["warnings"]))


def discover_in_subprocess(asgi_app: str, python: str, env: Mapping[str, str], cwd: str) -> RouteTable:
    result = subprocess.run(
        [python, "-m", "tandem.rediscover", asgi_app],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProjectError(f"re-reading the routing of {asgi_app} failed: {last}")
    return table_from_json(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    import django

    from tandem.routes import discover_routes
    from tandem.runtime.overrides import import_app

    honour_pythonpath(os.environ, sys.path)
    django.setup()
    print(table_to_json(discover_routes(import_app(argv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])
