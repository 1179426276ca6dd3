"""Precompressed siblings of collected static files: ``app.css.gz`` (and ``app.css.br`` when the ``brotli``
module is importable) next to ``app.css`` in STATIC_ROOT, so nginx (gzip_static), Caddy (precompressed)
and servestatic in unified mode send the compressed bytes straight from disk, compressed once at collect
time at the highest level rather than per request.

A sibling is fresh when its modification time equals its source's to the nanosecond (it is written with
the source's times, as servestatic's and WhiteNoise's own compressors do, so their siblings count as
fresh too); any other sibling is stale and is rewritten, or removed when compressing no longer pays:
a proxy would otherwise serve old bytes for a changed file.

Only STATIC_ROOT is written: siblings are created there by an atomic rename (a symlink collectstatic
--link left in a sibling's place is replaced, never written through), and symlinked directories are not
entered. The compression itself is servestatic's (gzip level 9 with no timestamp, brotli quality 11).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Text formats that compress well. An allow-list: images, fonts in woff/woff2, archives and video are
# compressed already and would only cost CPU at start and disk.
COMPRESSIBLE = frozenset(
    {
        "css", "js", "mjs", "cjs", "json", "map", "svg", "html", "htm", "txt", "xml", "csv", "md",
        "webmanifest", "ico", "ttf", "otf", "eot", "wasm",
    }
)  # fmt: skip
# Smaller files gain nothing measurable: a few dozen bytes saved against a second stat per request.
MIN_SIZE = 256
# A sibling is written only when it is at least this much smaller than its source (servestatic's ratio).
MAX_RATIO = 0.95


def _gzip(data: bytes) -> bytes:
    from servestatic.compress import Compressor

    result: bytes = Compressor.compress_gzip(data)
    return result


def _brotli(data: bytes) -> bytes:
    from servestatic.compress import Compressor

    result: bytes = Compressor.compress_brotli(data)
    return result


def brotli_available() -> bool:
    """Whether servestatic's compressor found the ``brotli`` module (the [caddy] extra installs it)."""
    from servestatic import compress

    return compress.brotli is not None


@dataclass(frozen=True)
class Encoding:
    suffix: str  # ".gz"
    compress: Callable[[bytes], bytes] | None  # None: this encoding cannot be produced here


def encodings() -> tuple[Encoding, ...]:
    """gzip always; brotli when its module is importable (else stale .br siblings are still removed)."""
    return (Encoding(".gz", _gzip), Encoding(".br", _brotli if brotli_available() else None))


@dataclass
class Result:
    written: list[str] = field(default_factory=list)  # sibling paths, relative to the root
    removed: list[str] = field(default_factory=list)  # stale siblings of files that no longer compress
    errors: list[str] = field(default_factory=list)  # "path: reason", for what could not be written

    def summary(self, root: Path) -> str | None:
        """One line for the terminal, or None when nothing changed."""
        if not (self.written or self.removed or self.errors):
            return None
        kinds = sorted({Path(p).suffix for p in self.written})
        parts = []
        if self.written:
            parts.append(f"wrote {len(self.written)} precompressed static file(s) ({', '.join(kinds)})")
        if self.removed:
            parts.append(f"removed {len(self.removed)} stale one(s)")
        if self.errors:
            parts.append(
                f"could not update {len(self.errors)} ({self.errors[0]}): those files are served uncompressed"
            )
        return f"{'; '.join(parts)} in {root}"


def compressible(name: str) -> bool:
    return name.rpartition(".")[2].lower() in COMPRESSIBLE and "." in name


def _fresh(sibling: str, source: os.stat_result) -> bool:
    try:
        info = os.lstat(sibling)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_mtime_ns == source.st_mtime_ns


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _write(path: str, data: bytes, source: os.stat_result) -> None:
    """``data`` at ``path`` by an atomic rename, readable as the source is (nginx's workers read it as
    another user), with the source's times (what makes it fresh)."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, stat.S_IMODE(source.st_mode) | stat.S_IRUSR)
        os.utime(tmp, ns=(source.st_atime_ns, source.st_mtime_ns))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _update(path: str, codecs: tuple[Encoding, ...], root: str, result: Result) -> None:
    try:
        source = os.stat(path)  # through a collectstatic --link symlink: the bytes it serves
    except OSError:
        return
    if not stat.S_ISREG(source.st_mode):
        return
    pending = [c for c in codecs if not _fresh(path + c.suffix, source)]
    if not pending:
        return
    data: bytes | None = None
    for codec in pending:
        sibling = path + codec.suffix
        relative = os.path.relpath(sibling, root)
        try:
            if codec.compress is not None and source.st_size >= MIN_SIZE:
                if data is None:
                    with open(path, "rb") as f:
                        data = f.read()
                compressed = codec.compress(data)
                if len(compressed) <= len(data) * MAX_RATIO:
                    _write(sibling, compressed, source)
                    result.written.append(relative)
                    continue
            if _exists(sibling):  # stale, and nothing fresh to put in its place
                os.unlink(sibling)
                result.removed.append(relative)
        except OSError as exc:
            result.errors.append(f"{relative}: {exc.strerror or exc}")


def precompress(root: Path) -> Result:
    """Writes missing or stale ``.gz``/``.br`` siblings for the compressible files under ``root``."""
    result = Result()
    if not root.is_dir():
        return result
    codecs = encodings()
    top = str(root)
    for directory, _dirs, files in os.walk(top):  # symlinked directories are not entered
        names = [n for n in sorted(files) if compressible(n) and not n.startswith(".")]
        if names and not os.access(directory, os.W_OK):
            # Checked before compressing: a STATIC_ROOT the serving user cannot write (deployed by
            # another user, a read-only image) would otherwise cost every start all the compression.
            result.errors.append(f"{os.path.relpath(directory, top)}/: not writable, nothing precompressed")
            continue
        for name in names:
            _update(os.path.join(directory, name), codecs, top, result)
    return result


def main(argv: list[str]) -> int:
    """``python -m tandem.precompress STATIC_ROOT``: the step on its own, for a deploy that runs
    collectstatic itself (tandem's exports)."""
    if len(argv) != 1:
        print("usage: python -m tandem.precompress STATIC_ROOT", file=sys.stderr)
        return 2
    root = Path(argv[0])
    result = precompress(root)
    line = result.summary(root)
    if line:
        print(line)
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))  # a command's entry point: its exit status is the result
