"""Application paths (``module:attr``): normalised, and checked to exist without running the module,
so a typo is one clear line before any process starts."""

from __future__ import annotations

import ast
import difflib
import importlib.util
from pathlib import Path

from tandem.errors import ProjectError
from tandem.tracebacks import exception_line, where_in


def normalize_app_path(value: str, source: str = "") -> str:
    """``pkg.asgi.application`` (Django setting style) or ``pkg.asgi:application`` -> ``pkg.asgi:application``."""
    module, colon, attr = value.partition(":")
    if not colon:
        module, _, attr = value.rpartition(".")
    if not module or not attr:
        origin = f" (from {source})" if source else ""
        raise ProjectError(
            f"{value!r}{origin} is not an application path",
            hint="use module:attribute, e.g. mysite.asgi:application",
        )
    return f"{module}:{attr}"


# Calls through which a module can define names the parser cannot see.
_DYNAMIC_CALLS = frozenset({"globals", "vars", "locals", "setattr", "exec", "eval", "__import__"})


def _defined_names(source: str) -> set[str] | None:
    """Every name a module may define (over-approximated: names bound anywhere in it count), or None
    when it may define names the parser cannot see: a star import, a module ``__getattr__``, ``globals()``,
    ``setattr``, ``exec``. Over-approximating only ever accepts a wrong path, which the child then reports;
    it never rejects a right one."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store | ast.Del):
                names.add(node.id)
            elif node.id in _DYNAMIC_CALLS:
                return None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)  # "except E as name", "case x as name", "case [*name]"
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Attribute) and node.attr in ("__dict__", "modules"):
            return None  # sys.modules[__name__].x = ..., module.__dict__[...] = ...
    if "__getattr__" in names:
        return None
    return names


def _app_fix(what: str, source: str, module: str) -> str:
    """How to fix an application path, by where it came from."""
    setting = f"{what}_APPLICATION"
    if source == "default":
        return (
            f"tandem looked for {module} because settings.{setting} is not set: set {setting}, "
            f"or pass --{what.lower()} module:attribute"
        )
    if source == f"settings.{setting}":
        return f"fix {setting} in your settings (module.attribute, e.g. mysite.{what.lower()}.application)"
    if source.startswith("--"):
        return f"fix {source} (module:attribute, e.g. mysite.{what.lower()}:application)"
    if source == "settings.TANDEM":
        return f"fix settings.TANDEM[{what!r}]"
    return f"fix the {source} environment variable"


def check_app_path(app_path: str, what: str, source: str, root: Path) -> None:
    """Checks that ``module:attr`` exists without running the module (the child process imports it)."""
    module, _, attr = app_path.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        if isinstance(exc, ImportError) and not _about(exc, module):
            raise _package_failed(what, module, source, exc, root) from None
        spec = None
        detail = f" ({exception_line(exc)})"
    except Exception as exc:
        # find_spec imports the parent package: its __init__ may raise.
        raise _package_failed(what, module, source, exc, root) from None
    else:
        detail = ""
    if spec is None:
        raise ProjectError(
            f"{what} module {module!r} (from {source}) not found in {root}{detail}",
            hint=_app_fix(what, source, module),
        )
    origin = spec.origin
    if not attr or origin is None or not origin.endswith(".py"):
        return
    try:
        names = _defined_names(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return  # the child will report the real error with its output
    if names is not None and attr.split(".")[0] not in names:
        close = difflib.get_close_matches(attr, sorted(n for n in names if not n.startswith("__")), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise ProjectError(
            f"{what} application {app_path!r} (from {source}): {_display(origin, root)} defines no "
            f"{attr.split('.')[0]!r}{suggestion}",
            hint=_app_fix(what, source, module),
        )


def _about(exc: ImportError, module: str) -> bool:
    """Whether an ImportError says ``module`` (or a package above it) is missing, rather than something
    that package imports."""
    name = getattr(exc, "name", None)
    return name is None or module == name or module.startswith(name + ".")


def _package_failed(what: str, module: str, source: str, exc: BaseException, root: Path) -> ProjectError:
    return ProjectError(
        f"{what} module {module!r} (from {source}): importing its package failed: "
        f"{exception_line(exc)}{where_in(exc, root)}",
        hint="fix that error in the package's __init__.py or what it imports",
    )


def _display(path: str, root: Path) -> str:
    resolved = Path(path).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else path
