"""Importing the ASGI and WSGI applications the way the servers will: in a fresh interpreter, with only
DJANGO_SETTINGS_MODULE and the project root on sys.path, and no prior ``django.setup()``.

``tandem check`` has already set Django up in its own process, so an import there succeeds for an application
that only works under ``runserver`` (models imported before ``get_asgi_application()`` raise
AppRegistryNotReady under Daphne). One subprocess serves both applications: it forks before importing
anything of Django, so each application is imported into an untouched interpreter, as Daphne and Gunicorn do.
The child runs a short script with no import of tandem, so tandem's own modules cannot set anything up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.tracebacks import display_path, is_library_file

TIMEOUT = 30.0
MARKER = "TANDEM-FRESH-IMPORT:"

# The child: imports each "module:attr" given (asgi first, wsgi in a forked copy made before any import),
# and prints one JSON line {kind: null | {"exception", "frames", "missing"}}.
_CHILD = r"""
import importlib, json, os, sys, traceback

# `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH: a nested package of the
# settings package's name there would shadow it. The servers run with PYTHONPATH's order; so does this.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

def attempt(path):
    module_name, _, attr = path.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            target = getattr(target, part)
        return None
    except BaseException as exc:
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__) if f.lineno]
        if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
            frames.append((exc.filename, exc.lineno))
        if isinstance(exc, SyntaxError) and exc.msg:
            text = exc.msg
        else:
            lines = str(exc).strip().splitlines()
            text = lines[-1] if lines else ""
        name = type(exc).__name__
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == module_name
        return {"exception": f"{name}: {text}" if text else name, "frames": frames, "missing": missing}

paths = dict(zip(("asgi", "wsgi"), sys.argv[1:3]))
result = {}
pid = None
if paths.get("wsgi") and hasattr(os, "fork"):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, json.dumps(attempt(paths["wsgi"])).encode())
        os._exit(0)
    os.close(write)
if paths.get("asgi"):
    result["asgi"] = attempt(paths["asgi"])
if pid is not None:
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result["wsgi"] = json.loads(data) if data else {"exception": "the import process died", "frames": [], "missing": False}
elif paths.get("wsgi"):
    result["wsgi"] = attempt(paths["wsgi"])
sys.stdout.flush()
print("MARKER" + json.dumps(result), flush=True)
""".replace("MARKER", MARKER)


@dataclass(frozen=True)
class FreshImport:
    """One application's import in a fresh process."""

    error: str | None  # "AppRegistryNotReady: Apps aren't loaded yet. (chat/asgi.py, line 7)"; None: imported
    missing: bool = False  # the module itself does not exist (nothing to import)


def project_path(path: Sequence[str], root: Path) -> list[str]:
    """The entries of ``path`` (this process's sys.path) that are the project's, not the standard library or
    installed packages: the order tandem (or manage.py) imported the settings with. The root is always in."""
    entries: list[str] = []
    for entry in path:
        directory = entry or os.getcwd()  # "" is the current directory
        if not os.path.isdir(directory) or is_library_file(os.path.join(directory, "x.py")):
            continue
        entries.append(str(Path(directory).resolve()))
    if str(root.resolve()) not in entries:
        entries.insert(0, str(root.resolve()))
    return list(dict.fromkeys(entries))


def user_frame(frames: Sequence[Sequence[object]], root: Path) -> str:
    """`` (board/models.py, line 4, imported from mysite/asgi.py, line 5)``: the innermost frame in the
    project's own code, and the outermost when it is another file (the line that started it); or ``""``."""
    own: list[tuple[str, object]] = []
    for file, line in [(str(f[0]), f[1]) for f in frames]:
        path = Path(file)
        if not path.is_absolute() or is_library_file(file):
            continue
        try:
            path.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        own.append((display_path(file, root), line))
    if not own:
        return ""
    (inner, inner_line), (outer, outer_line) = own[-1], own[0]
    start = f", imported from {outer}, line {outer_line}" if outer != inner else ""
    return f" ({inner}, line {inner_line}{start})"


def _verdict(raw: object, root: Path) -> FreshImport:
    if raw is None:
        return FreshImport(None)
    if not isinstance(raw, dict):
        return FreshImport("the import process reported nothing usable")
    frames = raw.get("frames") or []
    return FreshImport(str(raw.get("exception")) + user_frame(frames, root), bool(raw.get("missing")))


def fresh_imports(
    apps: Mapping[str, str | None],
    *,
    root: Path,
    settings_module: str,
    environ: Mapping[str, str],
    pythonpath: Sequence[str] = (),
    python: str = sys.executable,
    timeout: float = TIMEOUT,
) -> dict[str, FreshImport]:
    """``{"asgi": ..., "wsgi": ...}`` for the ``module:attr`` paths given (None: not imported).

    ``pythonpath``: the project's own sys.path entries, in order (as the servers get them in PYTHONPATH);
    the project root when none are given."""
    wanted = {kind: path for kind, path in apps.items() if path}
    if not wanted:
        return {}
    env = {k: v for k, v in environ.items() if k != "TANDEM_RUNTIME"}
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    # As the servers tandem starts get it (topologies.processes.child_env): the project root first.
    entries = list(
        dict.fromkeys([*(pythonpath or [str(root)]), *environ.get("PYTHONPATH", "").split(os.pathsep)])
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, entries))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [python, "-c", _CHILD, wanted.get("asgi") or "", wanted.get("wsgi") or ""]
    # A session of its own: on timeout the forked copy is killed with the child (its whole process group).
    proc = subprocess.Popen(
        argv, cwd=str(root), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        problem = f"importing it in a fresh process did not finish within {timeout:.0f} s"
        return {kind: FreshImport(problem) for kind in wanted}
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith(MARKER)]
    if not lines:
        tail = (err.decode(errors="replace").strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {kind: FreshImport(f"the import process failed: {tail}") for kind in wanted}
    data = json.loads(lines[-1][len(MARKER) :])
    return {kind: _verdict(data.get(kind), root) for kind in wanted}
