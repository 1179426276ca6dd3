"""Reading a failed child's last output lines: which exception ended it, and where in the user's code.

A child that dies at start usually prints a Python traceback that is mostly Daphne's, importlib's and
tandem's own frames. The user needs two things from it: the exception, and the line of *their* code
that raised it. These are pure functions over the captured lines, so they are tested with tables.
"""

from __future__ import annotations

import dataclasses
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
    copies: int = 1  # identical tracebacks in the output (one per worker that failed alike)

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


def _parse_one(body: Sequence[str], library_dirs: Sequence[str] | None) -> Crash | None:
    """One traceback, its first line ("Traceback ...") left out; None when it is cut off."""
    frames: list[Frame] = []
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
            own = tuple(f for f in frames if not is_library_file(f.file, library_dirs))
            return Crash(exception=line.strip(), frames=own)
    return None


def parse_crashes(lines: Sequence[str], library_dirs: Sequence[str] | None = None) -> list[Crash]:
    """Every complete traceback in ``lines``, in order."""
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK_START]
    crashes = []
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=False):  # [] when none
        crash = _parse_one(lines[start + 1 : end], library_dirs)
        if crash is not None:
            crashes.append(crash)
    return crashes


def parse_crash(lines: Sequence[str], library_dirs: Sequence[str] | None = None) -> Crash | None:
    """The exception to tell the user about, or None when the output holds no traceback.

    That is the first one raised in the user's own code: a server reports a failed start with exceptions
    of its own after it (Gunicorn's ``HaltServer: Worker failed to boot``, Django's ``ImproperlyConfigured``
    raised from a settings ``KeyError``), which only say that something failed. Without any in the user's
    code, the last one. ``copies`` counts identical tracebacks (one per Gunicorn worker).
    """
    crashes = parse_crashes(lines, library_dirs)
    if not crashes:
        return None
    chosen = next((c for c in crashes if c.frames), crashes[-1])
    copies = sum(1 for c in crashes if c.exception == chosen.exception and c.frames == chosen.frames)
    return dataclasses.replace(chosen, copies=copies)


def excerpt(lines: Sequence[str], library_dirs: Sequence[str] | None = None) -> list[str]:
    """What to show of a failed child's output: its traceback cut down to the user's frames, once however
    many workers printed it, else its tail."""
    crash = parse_crash(lines, library_dirs)
    if crash is None:
        return list(lines[-PLAIN_TAIL:])
    shown: list[str] = []
    for frame in crash.frames:
        shown.append(f'File "{frame.file}", line {frame.line}')
        if frame.code:
            shown.append(f"  {frame.code}")
    shown.append(crash.exception)
    if crash.copies > 1:
        shown.append(f"(the same traceback {crash.copies} times: once per worker process)")
    return shown


def short_traceback(exc: BaseException, library_dirs: Sequence[str] | None = None) -> str:
    """Python's traceback of ``exc`` and the exceptions it was raised from, with only the user's own
    frames (what ``parse_crash`` reads back)."""
    chain: list[tuple[BaseException, str]] = []
    current: BaseException | None = exc
    link = ""
    while current is not None and len(chain) < 10:  # bounded: a cycle of contexts is possible
        chain.insert(0, (current, link))
        if current.__cause__ is not None:
            current, link = (
                current.__cause__,
                "The above exception was the direct cause of the following exception:",
            )
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = (
                current.__context__,
                "During handling of the above exception, another exception occurred:",
            )
        else:
            current = None
    parts: list[str] = []
    for index, (item, _) in enumerate(chain):
        if index:
            parts.append(f"\n{chain[index - 1][1]}\n\n")
        frames = [
            f
            for f in traceback.extract_tb(item.__traceback__)
            if not is_library_file(f.filename, library_dirs)
        ]
        parts += [_TRACEBACK_START + "\n", *traceback.format_list(frames)]
        parts += traceback.format_exception_only(type(item), item)
    return "".join(parts)


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
