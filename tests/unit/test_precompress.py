"""The .gz/.br siblings tandem writes into STATIC_ROOT after collectstatic (tandem.precompress), on real
files in a temporary directory, and the caching rule every mode shares (tandem.staticheaders)."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from tandem import precompress as pc
from tandem.precompress import MIN_SIZE, main, precompress
from tandem.staticheaders import IMMUTABLE, SHORT, cache_control, is_hashed

CSS = b"body { color: #333; margin: 0 auto; }\n" * 200
JS = b"function greet(name) { return 'hello ' + name; }\n" * 200
HAS_BROTLI = pc.brotli_available()


def brotli_decompress(data: bytes) -> bytes:
    import brotli  # type: ignore[import-untyped]

    result: bytes = brotli.decompress(data)
    return result


def write(path: Path, data: bytes, mtime: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    static = tmp_path / "staticfiles"
    write(static / "css" / "site.css", CSS)
    write(static / "js" / "app.0123456789ab.js", JS)
    write(static / "img" / "logo.png", os.urandom(4096))  # already compressed: never touched
    write(static / "tiny.css", b"a{b:c}")  # below MIN_SIZE: nothing to gain
    return static


def test_compressible_files_get_siblings_that_decompress_to_them(root: Path) -> None:
    result = precompress(root)
    css = root / "css" / "site.css"
    assert gzip.decompress((root / "css" / "site.css.gz").read_bytes()) == CSS
    assert gzip.decompress((root / "js" / "app.0123456789ab.js.gz").read_bytes()) == JS
    # Fresh means: the source's modification time, to the nanosecond (what servestatic writes too).
    assert (root / "css" / "site.css.gz").stat().st_mtime_ns == css.stat().st_mtime_ns
    if HAS_BROTLI:
        assert brotli_decompress((root / "css" / "site.css.br").read_bytes()) == CSS
        assert "css/site.css.br" in result.written
    else:
        assert not (root / "css" / "site.css.br").exists()
    assert "css/site.css.gz" in result.written
    assert not list(root.glob("img/logo.png.*"))
    assert not list(root.glob("tiny.css.*"))
    assert len((root / "css" / "site.css.gz").read_bytes()) < len(CSS)


def test_a_second_run_writes_nothing(root: Path) -> None:
    precompress(root)
    again = precompress(root)
    assert again.written == [] and again.removed == [] and again.errors == []
    assert again.summary(root) is None


def test_a_changed_source_gets_its_siblings_rewritten(root: Path) -> None:
    css = root / "css" / "site.css"
    write(css, CSS, mtime=1_700_000_000)
    precompress(root)
    changed = b"main { display: grid; gap: 1rem; }\n" * 150
    write(css, changed, mtime=1_700_000_100)
    result = precompress(root)
    assert "css/site.css.gz" in result.written
    assert gzip.decompress((root / "css" / "site.css.gz").read_bytes()) == changed
    if HAS_BROTLI:
        assert brotli_decompress((root / "css" / "site.css.br").read_bytes()) == changed


def test_a_source_replaced_by_an_older_file_is_stale_too(root: Path) -> None:
    """collectstatic copies a file back from an older checkout: any other time than the source's is stale."""
    css = root / "css" / "site.css"
    write(css, CSS, mtime=1_700_000_100)
    precompress(root)
    older = b"p { color: blue; }\n" * 100
    write(css, older, mtime=1_700_000_000)
    precompress(root)
    assert gzip.decompress((root / "css" / "site.css.gz").read_bytes()) == older


def test_a_stale_sibling_of_a_file_that_no_longer_compresses_is_removed(root: Path) -> None:
    js = root / "js" / "app.0123456789ab.js"
    write(js, JS, mtime=1_700_000_000)
    precompress(root)
    assert (root / "js" / "app.0123456789ab.js.gz").exists()
    write(js, random.Random(1).randbytes(8192), mtime=1_700_000_100)  # incompressible now
    result = precompress(root)
    assert not (root / "js" / "app.0123456789ab.js.gz").exists()
    assert "js/app.0123456789ab.js.gz" in result.removed
    assert not (root / "js" / "app.0123456789ab.js.br").exists()


def test_a_file_shrunk_below_the_minimum_loses_its_stale_sibling(root: Path) -> None:
    css = root / "css" / "site.css"
    write(css, CSS, mtime=1_700_000_000)
    precompress(root)
    write(css, b"a{}", mtime=1_700_000_100)
    precompress(root)
    assert not (root / "css" / "site.css.gz").exists()
    assert MIN_SIZE > 3


def test_a_symlinked_sibling_is_replaced_never_written_through(root: Path, tmp_path: Path) -> None:
    """collectstatic --link can leave a link to the project's own file where a sibling goes: the link is
    replaced by tandem's file, the project's file stays as it was."""
    outside = write(tmp_path / "project" / "static" / "site.css.gz", b"the project's own bytes")
    (root / "css" / "site.css.gz").symlink_to(outside)
    precompress(root)
    assert outside.read_bytes() == b"the project's own bytes"
    sibling = root / "css" / "site.css.gz"
    assert not sibling.is_symlink()
    assert gzip.decompress(sibling.read_bytes()) == CSS


def test_a_symlinked_source_is_read_and_its_sibling_lands_in_static_root(root: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "project" / "static" / "linked.css", CSS)
    (root / "linked.css").symlink_to(source)
    precompress(root)
    assert gzip.decompress((root / "linked.css.gz").read_bytes()) == CSS
    assert sorted(p.name for p in source.parent.iterdir()) == ["linked.css"]


def test_symlinked_directories_are_not_entered(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "other.css", CSS)
    (root / "vendor").symlink_to(elsewhere, target_is_directory=True)
    precompress(root)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["other.css"]


def test_siblings_are_readable_as_their_source_is(root: Path) -> None:
    """nginx's workers read them as another user: mkstemp's 0600 would hide them."""
    css = root / "css" / "site.css"
    css.chmod(0o644)
    os.utime(css, (1_700_000_000, 1_700_000_000))
    precompress(root)
    assert (root / "css" / "site.css.gz").stat().st_mode & 0o777 == 0o644
    assert not [p for p in root.rglob(".*") if p.name.endswith(".tmp")]  # no temporary file left


def test_without_brotli_a_stale_br_is_removed_and_a_fresh_one_kept(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    css = root / "css" / "site.css"
    js = root / "js" / "app.0123456789ab.js"
    fresh = write(root / "js" / "app.0123456789ab.js.br", b"brotli bytes of the current file")
    os.utime(fresh, ns=(js.stat().st_atime_ns, js.stat().st_mtime_ns))
    stale = write(root / "css" / "site.css.br", b"brotli bytes of an older file", mtime=1_600_000_000)
    monkeypatch.setattr(pc, "brotli_available", lambda: False)
    result = precompress(root)
    assert not stale.exists() and "css/site.css.br" in result.removed
    assert fresh.read_bytes() == b"brotli bytes of the current file"
    assert (root / "css" / "site.css.gz").exists() and css.exists()


def test_a_directory_the_user_cannot_write_is_skipped_before_compressing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root writes anywhere, so the permission is denied through os.access, which precompress asks."""
    real_access = os.access
    readonly = str(root / "css")

    def access(path: str | os.PathLike[str], mode: int, **kwargs: object) -> bool:
        return not (str(path) == readonly and mode & os.W_OK) and real_access(path, mode)

    compressed: list[int] = []
    real_gzip = pc._gzip
    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(pc, "_gzip", lambda data: compressed.append(len(data)) or real_gzip(data))
    result = precompress(root)
    assert result.errors == ["css/: not writable, nothing precompressed"]
    assert not (root / "css" / "site.css.gz").exists()
    assert compressed == [len(JS)]  # only the writable directory's file was compressed
    assert (root / "js" / "app.0123456789ab.js.gz").exists()


def test_missing_root_is_nothing_to_do(tmp_path: Path) -> None:
    assert precompress(tmp_path / "absent").summary(tmp_path) is None


def test_summary_and_command_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "precompressed static file(s)" in out and ".gz" in out and str(root) in out
    assert main([]) == 2


@pytest.mark.parametrize(
    ("url", "hashed"),
    [
        ("/static/css/site.0123456789ab.css", True),
        ("/static/admin/js/core.8f2e1c0b9a7d.js", True),
        ("/static/css/site.css", False),
        ("/static/css/site.0123456789AB.css", False),  # Django writes lower-case hex
        ("/static/css/site.0123456789a.css", False),  # 11 digits
        ("/static/css/site.0123456789abc.css", False),  # 13 digits
        ("/static/css/site.0123456789ab", False),  # no extension after the hash
        ("/static/0123456789ab.css/readme", False),
    ],
)
def test_hashed_names(url: str, hashed: bool) -> None:
    assert is_hashed(url) is hashed
    assert cache_control(url) == (IMMUTABLE if hashed else SHORT)
