"""Reading a failed child's last output lines: which exception ended it, and where in the user's code.

A child that dies at start usually prints a Python traceback that is mostly Daphne's, importlib's and
tandem's own frames. The user needs two things from it: the exception, and the line of *their* code
that raised it. These are pure functions over the captured lines, so they are tested with tables.
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_TRACEBACK_START = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)')
# An exception line: a (dotted) class name at the start of an unindented line, optionally ": message".
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?::\s?(?P<text>.*))?$")
_MARKERS = re.compile(r"^\s*[\^~]+\s*$")  # Python 3.11's "^^^^" position markers under a code line
PLAIN_TAIL = 10


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    code: str  # the source line Python printed under the frame, stripped ("" when none)


@dataclass(frozen=True)
class Crash:
    """The exception at the end of a child's output."""

    exception: str  # "RuntimeError: boom"
    frames: tuple[Frame, ...]  # the user's own frames, outermost first

    @property
    def where(self) -> Frame | None:
        """The innermost frame in the user's code: where to look first."""
        return self.frames[-1] if self.frames else None

    def summary(self, cwd: Path | None = None) -> str:
        where = self.where
        if where is None:
            return self.exception
        return f"{self.exception} ({display_path(where.file, cwd)}, line {where.line})"


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    dirs.add(str(Path(__file__).resolve().parent))  # tandem's own frames are never the user's problem
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def is_library_file(file: str, library_dirs: Sequence[str] | None = None) -> bool:
    """Frozen modules, the standard library, installed packages and tandem itself."""
    if file.startswith("<"):
        return True
    if os.sep + "site-packages" + os.sep in file or os.sep + "dist-packages" + os.sep in file:
        return True
    real = os.path.realpath(file)
    return any(real.startswith(d) for d in (library_dirs if library_dirs is not None else _library_dirs()))


def parse_crash(lines: Sequence[str], library_dirs: Sequence[str] | None = None) -> Crash | None:
    """The last traceback in ``lines``, or None when the output holds none."""
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK_START]
    if not starts:
        return None
    frames: list[Frame] = []
    exception = ""
    body = lines[starts[-1] + 1 :]
    for index, line in enumerate(body):
        match = _FRAME.match(line)
        if match:
            following = body[index + 1] if index + 1 < len(body) else ""
            code = "" if _FRAME.match(following) or not following.startswith(" ") else following.strip()
            if _MARKERS.match(code):
                code = ""
            frames.append(Frame(match.group("file"), int(match.group("line")), code))
            continue
        if line and not line[0].isspace() and _EXCEPTION.match(line):
            exception = line.strip()
            break
    if not exception:
        return None
    own = tuple(f for f in frames if not is_library_file(f.file, library_dirs))
    return Crash(exception=exception, frames=own)


def excerpt(lines: Sequence[str], library_dirs: Sequence[str] | None = None) -> list[str]:
    """What to show of a failed child's output: its traceback cut down to the user's frames, else its tail."""
    crash = parse_crash(lines, library_dirs)
    if crash is None:
        return list(lines[-PLAIN_TAIL:])
    shown: list[str] = []
    for frame in crash.frames:
        shown.append(f'File "{frame.file}", line {frame.line}')
        if frame.code:
            shown.append(f"  {frame.code}")
    shown.append(crash.exception)
    return shown


def display_path(file: str, cwd: Path | None = None) -> str:
    """``file`` relative to ``cwd`` when it lies inside it (shorter, and what the user sees in their editor)."""
    base = cwd or Path.cwd()
    try:
        return str(Path(file).resolve().relative_to(base.resolve()))
    except ValueError:
        return file


# --- exceptions raised in this process (importing the user's settings) ---------------------------------


def exception_line(exc: BaseException) -> str:
    """``TypeName: message`` on one line (the last line of a multi-line message, usually the point)."""
    if isinstance(exc, SyntaxError) and exc.msg:
        return f"{type(exc).__name__}: {exc.msg}"  # str() appends "(file, line N)", which where_in says
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def where_in(exc: BaseException, root: Path) -> str:
    """`` (mysite/settings.py, line 12)``: the innermost line under ``root`` that raised, or ``""``."""
    places: list[tuple[str, int]] = []
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        places.append((exc.filename, exc.lineno))
    places += [(f.filename, f.lineno) for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.lineno]
    for filename, line in places:
        path = Path(filename).resolve()
        if path.is_relative_to(root.resolve()) and not is_library_file(filename):
            return f" ({path.relative_to(root.resolve())}, line {line})"
    return ""
