"""Reading a project's files without running them: manage.py's settings module, the settings modules
that exist, and projects next to a directory that is not one. Bounded scans only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

# The common manage.py line, for a manage.py that does not parse (the AST reading is preferred).
_MANAGE_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")

MAX_SCANNED_ENTRIES = 200
# How far below a directory the "found one nearby" hint looks: a repository root with the project a few
# levels down (src/, backend/, apps/web/), bounded in depth and in directories read.
NEARBY_DEPTH = 3
NEARBY_MAX_DIRS = 400
NEARBY_MAX_FOUND = 5
_NOT_PROJECTS = frozenset({"node_modules", "__pycache__", "site-packages", "dist-packages", "build", "dist"})


def nearby_projects(start: Path) -> list[Path]:
    """Directories holding a manage.py around ``start``: the nearest parent that has one, then those below it
    (nearest first), at most NEARBY_DEPTH levels down, skipping hidden directories, virtualenvs and build
    output. Bounded: NEARBY_MAX_DIRS directories read, NEARBY_MAX_FOUND results."""
    found = [parent for parent in start.parents if _has_manage_py(parent)][:1]
    level = [start]
    visited = 0
    for _depth in range(NEARBY_DEPTH):
        below: list[Path] = []
        for directory in level:
            if visited >= NEARBY_MAX_DIRS:
                break
            visited += 1
            below += _subdirectories(directory)
        found += [d for d in below if _has_manage_py(d)]
        level = below
    return found[:NEARBY_MAX_FOUND]


def _subdirectories(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())[:MAX_SCANNED_ENTRIES]
    except OSError:
        return []
    subdirectories = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _NOT_PROJECTS:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink() and not (entry / "pyvenv.cfg").exists():
                subdirectories.append(entry)
        except OSError:
            continue
    return subdirectories


def _has_manage_py(directory: Path) -> bool:
    try:
        return (directory / "manage.py").is_file()
    except OSError:  # e.g. a directory we may not read
        return False


def _setting_target(node: ast.AST) -> ast.expr | None:
    """The value side of ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", X)`` or
    ``os.environ["DJANGO_SETTINGS_MODULE"] = X``, whatever ``os.environ`` is called locally."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault":
        args = list(node.args) + [kw.value for kw in node.keywords if kw.arg in ("key", "default")]
        if len(args) >= 2 and isinstance(args[0], ast.Constant) and args[0].value == "DJANGO_SETTINGS_MODULE":
            return args[1]
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value == "DJANGO_SETTINGS_MODULE"
            ):
                return node.value
    return None


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """``NAME = "text"`` assignments anywhere in the module, for ``setdefault(KEY, NAME)``."""
    constants: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def settings_module_from_manage(manage_py: Path) -> str | None:
    """The settings module manage.py sets, read without running it.

    Understands ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.settings")`` (any quoting, split
    over lines, through a module-level constant) and ``os.environ["DJANGO_SETTINGS_MODULE"] = "x.settings"``.
    Comments and strings that merely mention the name are ignored. None when manage.py computes the
    value at run time (e.g. from another environment variable).
    """
    try:
        source = manage_py.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        match = _MANAGE_SETTINGS.search(source)  # unparsable: the common line is still recognisable
        return match.group(1) if match else None
    constants = _string_constants(tree)
    for node in ast.walk(tree):
        value = _setting_target(node)
        if value is None:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            text: str | None = value.value
        elif isinstance(value, ast.Name):
            text = constants.get(value.id)
        else:
            text = None
        if text and _DOTTED.match(text):
            return text
    return None


def settings_candidates(root: Path) -> list[str]:
    """Settings modules that exist under ``root``: ``<pkg>/settings.py`` and ``<pkg>/settings/<name>.py``."""
    found: list[str] = []
    try:
        packages = sorted(p for p in root.iterdir() if (p / "__init__.py").is_file())[:MAX_SCANNED_ENTRIES]
    except OSError:
        return found
    for package in packages:
        if (package / "settings.py").is_file():
            found.append(f"{package.name}.settings")
        elif (package / "settings" / "__init__.py").is_file():
            modules = sorted((package / "settings").glob("*.py"))[:MAX_SCANNED_ENTRIES]
            found += [f"{package.name}.settings.{m.stem}" for m in modules if m.stem != "__init__"]
    return found
