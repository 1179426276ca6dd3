"""`tandem export nginx --role edge`: the edge's server block holds the edge secret, so it is written 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tandem.exporters.common import ExportOptions
from tandem.launcher import write_files
from tests.unit.test_export_render import EDGE, SECRET
from tests.unit.test_export_secrets import exported

pytestmark = pytest.mark.usefixtures("django_settings")


def test_the_edges_nginx_block_is_written_0600(tmp_path: Path) -> None:
    """`tandem export nginx --role edge`: tandem.conf holds the edge secret (X-Tandem-Proxy) and was
    written 0644 while its README said only root and nginx could read it."""
    files = exported("nginx", ExportOptions(), EDGE)
    assert SECRET in files["tandem.conf"].content
    write_files(tuple(files.values()), tmp_path)
    assert stat.S_IMODE((tmp_path / "tandem.conf").stat().st_mode) == 0o600
    assert "install -m 600" in files["README.txt"].content
    # A single host's block holds no secret: it stays readable.
    files = exported("nginx", ExportOptions(), {})
    write_files(tuple(files.values()), tmp_path / "single")
    assert stat.S_IMODE((tmp_path / "single" / "tandem.conf").stat().st_mode) == 0o644
