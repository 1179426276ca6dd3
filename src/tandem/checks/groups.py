"""Who uses channel-layer groups: consumer classes (from their source), and project code outside consumers
that sends group messages (a bounded scan of the project's own modules).

The second matters in split mode: a ``group_send`` in a view runs in a Gunicorn worker, so with an in-memory
layer it never reaches the consumers in Daphne.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from collections.abc import Iterator
from pathlib import Path

_GROUP_CALL = re.compile(r"\bgroup_(?:add|send|discard)\b")

# Directories that are not the project's own code (or never run inside the servers).
SKIP_DIRS = frozenset(
    {
        "migrations", "site-packages", "dist-packages", "node_modules", "__pycache__", "venv",
        "tests", "test", "static", "staticfiles", "media", "build", "dist",
    }
)  # fmt: skip
MAX_FILES = 2000  # a project is a few hundred modules; past this we are walking something else
MAX_DEPTH = 8
MAX_FILE_BYTES = 1_000_000


def uses_groups(consumer: type) -> bool:
    """Whether a consumer joins or sends to channel-layer groups.

    True when it declares ``groups`` or when its own code (any class in its MRO outside Channels) calls
    ``group_add``/``group_send``/``group_discard``. A consumer with ``channel_layer_alias = None`` has no
    layer at all. Calls hidden in helper functions are missed: this never reports groups that are not there.
    """
    if getattr(consumer, "channel_layer_alias", "default") is None:
        return False
    if getattr(consumer, "groups", None):
        return True
    for klass in consumer.__mro__:
        if klass is object or klass.__module__.split(".")[0] == "channels":
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if _GROUP_CALL.search(source):
            return True
    return False


def _is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name in ("tests.py", "conftest.py")


def project_modules(root: Path) -> Iterator[Path]:
    """The project's own .py files under ``root``: no virtualenvs, installed packages, migrations, tests or
    hidden directories; bounded in depth and count."""
    seen = 0
    base_depth = len(root.parts)
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs[:] = []
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIP_DIRS and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if not name.endswith(".py") or _is_test_file(name):
                continue
            seen += 1
            if seen > MAX_FILES:
                return
            yield here / name


def _consumer_like(node: ast.ClassDef, consumer_names: frozenset[str]) -> bool:
    """A class the routes lead to, or one deriving from a ``...Consumer`` base: its group calls run in the
    WebSocket server, beside the consumers they reach."""
    if node.name in consumer_names:
        return True
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        if name.endswith("Consumer") or name in consumer_names:
            return True
    return False


def _senders_in(tree: ast.AST, consumer_names: frozenset[str]) -> list[int]:
    """Lines of ``.group_send`` references outside consumer classes (``layer.group_send(...)`` or
    ``async_to_sync(layer.group_send)(...)``)."""
    lines: list[int] = []

    def visit(node: ast.AST, in_consumer: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_consumer or (
                isinstance(child, ast.ClassDef) and _consumer_like(child, consumer_names)
            )
            if isinstance(child, ast.Attribute) and child.attr == "group_send" and not inside:
                lines.append(child.lineno)
            visit(child, inside)

    visit(tree, False)
    return lines


def group_senders(root: Path, consumer_names: frozenset[str] = frozenset()) -> list[str]:
    """``path:line`` (relative to ``root``) of every ``group_send`` in project code outside consumers."""
    found: list[str] = []
    for path in project_modules(root):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "group_send" not in source:
            continue
        try:
            tree = ast.parse(source, filename=str(path))
        except (SyntaxError, ValueError):
            continue
        found += [f"{path.relative_to(root)}:{line}" for line in _senders_in(tree, consumer_names)]
    return found
