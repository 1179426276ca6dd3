"""Collected static files, one behaviour in both modes: collected before start when missing or stale (one
staleness test, for serve and tandem.W010), and an embedded STATIC_ROOT of tandem's own for projects that
set none."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tandem.errors import ProjectError
from tandem.project import Project


def static_sources() -> dict[str, Path]:
    """Every file collectstatic would copy, by its name under STATIC_ROOT (the first finder wins)."""
    from django.contrib.staticfiles.finders import get_finders

    found: dict[str, Path] = {}
    for finder in get_finders():
        for name, storage in finder.list([]):
            found.setdefault(name, Path(storage.path(name)))
    return found


def uncollected(static_root: Path, sources: dict[str, Path]) -> tuple[list[str], list[str]]:
    """(missing, outdated): source files absent from STATIC_ROOT, or newer than their collected copy."""
    missing, outdated = [], []
    for name, source in sorted(sources.items()):
        target = static_root / name
        try:
            collected = target.stat().st_mtime
        except OSError:
            missing.append(name)
            continue
        try:
            if source.stat().st_mtime > collected + 1:
                outdated.append(name)
        except OSError:
            continue
    return missing, outdated


def stale_reason(project: Project) -> str | None:
    """Why STATIC_ROOT needs collectstatic, or None when it is up to date (what tandem.W010 reports, which
    serve fixes instead). Needs django.setup() done."""
    if project.static_root is None:
        return None
    sources = static_sources()
    if not sources:
        return None
    root = project.static_root
    if not root.is_dir():
        return f"{root} does not exist yet"
    missing, outdated = uncollected(root, sources)
    if missing:
        return f"{len(missing)} static file(s) not collected yet, e.g. {missing[0]}"
    if outdated:
        return "source static files changed since the last collectstatic"
    return None


def cache_home(environ: Mapping[str, str]) -> Path:
    """Where per-user caches go (the XDG base directory spec): $XDG_CACHE_HOME, else ~/.cache; for root,
    /var/cache: root's home is private (0700), and the static files must be readable by nginx's
    unprivileged workers (tandem.workeruser)."""
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"])
    if os.geteuid() == 0:
        return Path("/var/cache")
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache"


def embedded_static_root(project: Project, environ: Mapping[str, str]) -> Path:
    """tandem's own STATIC_ROOT for a project that sets none: one directory per project and settings module,
    kept between runs (so only changed files are copied again), never inside the project."""
    digest = hashlib.sha256(f"{project.root}\0{project.settings_module}".encode()).hexdigest()[:12]
    return cache_home(environ) / "django-tandem" / "static" / f"{project.package}-{digest}"


def prepare_embedded_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".tandem-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ProjectError(
            f"cannot use {root} for the static files of a project without STATIC_ROOT: {exc.strerror or exc}",
            hint="set STATIC_ROOT in your settings, or point XDG_CACHE_HOME at a writable directory",
        ) from None


def collectstatic(project: Project, python: str, env: Mapping[str, str]) -> None:
    """Runs collectstatic in a fresh interpreter, into ``project.static_root`` (which may be tandem's
    embedded root, so the setting is passed explicitly rather than read from the project's settings)."""
    root = str(project.static_root) if project.static_root else ""
    result = subprocess.run(
        [python, "-m", "tandem.runtime.collect", root],
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
            f"collectstatic failed: {last[0]}",
            hint=f"run python -m django collectstatic --settings {project.settings_module} to see why",
        )
