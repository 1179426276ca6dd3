"""Collected static files: are they stale, and collecting them with the project's own manage.py."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from tandem.errors import ProjectError
from tandem.project import Project


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:
            continue
    return newest


def stale_reason(project: Project) -> str | None:
    """Why STATIC_ROOT needs collectstatic, or None when it is up to date. Needs django.setup() done."""
    if project.static_root is None:
        return None
    from django.contrib.staticfiles.finders import get_finders

    sources: list[Path] = []
    names: set[str] = set()
    for finder in get_finders():
        for name, storage in finder.list([]):
            if name in names:
                continue  # the first finder that has a name wins, as in collectstatic
            names.add(name)
            sources.append(Path(storage.path(name)))
    if not sources:
        return None
    root = project.static_root
    if not root.is_dir():
        return f"{root} does not exist yet"
    missing = [name for name in names if not (root / name).exists()]
    if missing:
        return f"{len(missing)} static file(s) not collected yet, e.g. {sorted(missing)[0]}"
    collected = [root / name for name in names]
    if _newest_mtime(sources) > _newest_mtime(collected) + 1:
        return "source static files changed since the last collectstatic"
    return None


def collectstatic(project: Project, python: str, env: Mapping[str, str]) -> None:
    result = subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=project.root,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ProjectError(
            f"collectstatic failed: {last[0]}", hint="run python manage.py collectstatic to see why"
        )
