"""The ``sys.path`` tandem and every process it starts import the project with.

The order is the one ``python -m django --pythonpath DIR`` gives when run in the project directory:
the ``--pythonpath`` directories (django-admin inserts each at the front), then the project directory
(``python -m`` puts the current directory first), then the directory tandem was started in when
``--project`` named another one, then the caller's own ``PYTHONPATH``.

One guard on top: a settings package must not be shadowed by a same-named package that lies earlier on
that path without the settings module (a ``tests/`` package inside the project dir while the settings are
``tests.settings`` of the directory above). Then the directory that holds the settings moves up, and
tandem says so. Pure functions over paths, except ``apply``/``honour_pythonpath`` which edit a list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableSequence, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SearchPath:
    entries: tuple[Path, ...]
    note: str = ""  # why the order differs from the plain one, "" when it does not

    def as_strings(self) -> list[str]:
        return [str(entry) for entry in self.entries]


def plain_order(pythonpath: Sequence[Path], root: Path, cwd: Path) -> list[Path]:
    """``--pythonpath`` directories, the project root, the current directory; each once, resolved."""
    ordered: list[Path] = []
    for entry in (*pythonpath, root, cwd):
        resolved = entry.resolve()
        if resolved not in ordered:
            ordered.append(resolved)
    return ordered


def provides(entry: Path, name: str) -> bool:
    """Whether ``import name`` would stop at ``entry``: a regular package or a module of that name there
    (a directory without ``__init__.py`` is a namespace portion: Python keeps looking past it)."""
    return (entry / name / "__init__.py").is_file() or (entry / f"{name}.py").is_file()


def holds(entry: Path, module: str) -> bool:
    """Whether ``entry`` holds the dotted ``module`` itself, as a file or a package."""
    base = entry.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def guard_settings(entries: Sequence[Path], module: str) -> SearchPath:
    """``entries`` with the directory that holds ``module`` moved before any entry whose same-named top-level
    package lacks it. Unchanged when no entry holds the module (it may be installed) or nothing shadows it."""
    top = module.split(".", 1)[0]
    holder = next((e for e in entries if holds(e, module)), None)
    if holder is None:
        return SearchPath(tuple(entries))
    shadowing = next((e for e in entries if provides(e, top)), None)
    if shadowing is None or shadowing == holder:
        return SearchPath(tuple(entries))
    reordered = [e for e in entries if e != holder]
    reordered.insert(reordered.index(shadowing), holder)
    note = (
        f"{holder} comes before {shadowing} on sys.path: {shadowing / top} would shadow the settings "
        f"package {top!r} ({module} is in {holder})"
    )
    return SearchPath(tuple(reordered), note)


def search_path(pythonpath: Sequence[Path], root: Path, cwd: Path, settings_module: str) -> SearchPath:
    return guard_settings(plain_order(pythonpath, root, cwd), settings_module)


def environ_value(entries: Sequence[str], existing: str | None) -> str:
    """``PYTHONPATH`` for a child: tandem's entries first, then the caller's own (as Python orders them)."""
    parts = list(entries)
    parts += [p for p in (existing or "").split(os.pathsep) if p and p not in parts]
    return os.pathsep.join(parts)


def apply(entries: Sequence[str], path: MutableSequence[str]) -> None:
    """Put ``entries`` at the front of ``path`` (``sys.path``), in order, each once."""
    for entry in entries:
        while entry in path:
            path.remove(entry)
    path[0:0] = list(entries)


def honour_pythonpath(environ: Mapping[str, str], path: MutableSequence[str]) -> None:
    """In a child, before the project is imported: the servers put their working directory first
    (``python -m``, Gunicorn's ``--chdir``, Daphne's ``sys.path.insert(0, ".")``); tandem's order is the
    ``PYTHONPATH`` it gave the child, so those entries go back in front."""
    entries = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not entries:
        return
    cwd = os.getcwd()
    for relative in ("", "."):  # the working directory by another name: now a duplicate of an entry
        if relative in path and cwd in entries:
            path.remove(relative)
    apply(entries, path)
