"""One Plan, built in one place (issue 13 item 1): every Plan field comes from ``tandem.plan.build_plan``.

serve, a reload, export, routes, check and bench reach the topologies through ``build_plan`` only. This scans
tandem's source for the ways a Plan field could be computed somewhere else: constructing a Context, a Plan,
a ProcessSpec or a ProxySpec, calling a topology's ``build``, or ``dataclasses.replace`` on a plan. A second
construction site fails here with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tandem"

# Where each of them may be made: build_plan makes the Context; the topologies (its strategies, which only
# build_plan calls) make the processes, the proxy spec and the Plan.
ALLOWED = {
    "Context": ("plan.py",),
    "Plan": ("plan.py", "topologies/"),
    "ProcessSpec": ("plan.py", "topologies/", "servers/"),  # servers/: called by the topologies
    "ProxySpec": ("plan.py", "topologies/"),
    ".build": ("plan.py",),
    "replace(plan)": ("plan.py", "topologies/"),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def construction_sites(source: str) -> list[tuple[str, int]]:
    """(what, line) for every place in ``source`` that makes or changes a Plan field."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name in ("Context", "Plan", "ProcessSpec", "ProxySpec"):
            found.append((name, node.lineno))
        elif isinstance(node.func, ast.Attribute) and name == "build":
            found.append((".build", node.lineno))
        elif name == "replace" and node.args and _name(node.args[0]).lower().endswith("plan"):
            found.append(("replace(plan)", node.lineno))
    return found


def violations(relative: str, source: str) -> list[str]:
    return [
        f"{relative}:{line}: {what} outside build_plan"
        for what, line in construction_sites(source)
        if not relative.startswith(ALLOWED[what])
    ]


def test_plan_fields_are_computed_only_in_build_plan() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        problems += violations(relative, path.read_text(encoding="utf-8"))
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "ctx = Context(config=c, project=p, routes=None)",
        "plan = topology('split').build(ctx)",
        "from tandem import plan as p\nspec = p.ProcessSpec('x', 'daphne', (), {}, probe)",
        "plan = dataclasses.replace(self.plan, warnings=())",
        "serving.plan = replace(plan, notes=('x',))",
    ],
)
def test_a_second_construction_site_is_found(source: str) -> None:
    assert violations("launcher.py", source), source


def test_the_commands_reach_the_topologies_through_build_plan() -> None:
    """serve (launcher.prepare), reload (serving.Serving), export (launcher.export_plan) and routes
    (launcher.routes_plan) call build_plan."""
    callers = set()
    for module in ("launcher.py", "serving.py"):
        tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                calls = {_name(c.func) for c in ast.walk(node) if isinstance(c, ast.Call)}
                if "build_plan" in calls:
                    callers.add(node.name)
    # A reload's Plan is made in _install_proxy_config, which prepare_reload (app servers' code checked
    # first) and an edge's reload (no app server) both end in.
    assert {"prepare", "_install_proxy_config", "export_plan", "routes_plan"} <= callers
