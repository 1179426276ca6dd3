"""``tandem serve`` stays traceable stage by stage (issue 13): CLI -> Config -> Project/Routes -> Plan ->
Supervisor, each stage reached from the CLI's module or from launcher (the wiring) directly, with the name
imported from the stage's own module. When a stage is moved behind another module (a Plan built in
serving.py, the Supervisor started from a helper module), the trace grows a hop and this test names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tandem"

# stage: (function that must reach it, the name called, the module it must be imported from)
STAGES = {
    "Config": ("load", "resolve_config", "tandem.config"),
    "Project": ("load", "discover", "tandem.project"),
    "Project location": ("load", "open_project", "tandem.project"),
    "Routes": ("serve", "discover_routes", "tandem.routes"),
    "Plan": ("serve", "build_plan", "tandem.plan"),
    "Supervisor": ("serve", "Supervisor", "tandem.supervisor"),
}


def _tree(relative: str) -> ast.Module:
    return ast.parse((SRC / relative).read_text(encoding="utf-8"))


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
    return names


def _reached(functions: dict[str, ast.FunctionDef], start: str) -> set[str]:
    """Every name called from ``start`` or from the module's own functions it calls, transitively."""
    seen: set[str] = set()
    todo = [start]
    called: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        names = _called(functions[name])
        called |= names
        todo.extend(names & functions.keys())
    return called


def _imported_from(tree: ast.Module) -> dict[str, str]:
    """name -> module, for every ``from X import name [as alias]`` anywhere in the module."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    return found


def test_the_cli_hands_serve_to_launcher_in_one_hop() -> None:
    run = _tree("cli/run.py")
    serve = _functions(run)["serve"]
    imported = _imported_from(run)
    assert {"load_project", "run_serve"} <= _called(serve)
    assert imported["run_serve"] == "tandem.launcher"
    base = _tree("cli/base.py")
    assert "load" in _called(_functions(base)["load_project"])
    assert _imported_from(base)["load"] == "tandem.launcher"


def test_launcher_reaches_every_stage_directly_from_its_own_module() -> None:
    launcher = _tree("launcher.py")
    functions = _functions(launcher)
    imported = _imported_from(launcher)
    for stage, (start, name, module) in STAGES.items():
        assert name in _reached(functions, start), f"{stage}: launcher.{start} no longer calls {name}"
        assert imported.get(name) == module, (
            f"{stage}: {name} comes from {imported.get(name)}, not from {module}: the trace grew a hop"
        )


def test_the_stage_modules_exist_where_the_readme_says() -> None:
    for relative in ("cli/run.py", "launcher.py", "config.py", "project.py", "routes.py", "plan.py"):
        assert (SRC / relative).is_file(), relative
    assert (SRC / "supervisor" / "core.py").is_file()
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "Reading `tandem serve --mode split`" in readme
