"""`tandem export systemd`: a project whose STATIC_ROOT or MEDIA_ROOT is relative (Django opens it in the
process's working directory) gets ReadWritePaths= joined with the unit's WorkingDirectory, the project's:
systemd refuses a relative ReadWritePaths= (so the unit would not load, or the process could not write
its uploads under ProtectSystem=strict)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from tandem.config import resolve_config
from tandem.exporters import export_files
from tandem.exporters.common import ExportOptions, shared_fd
from tandem.exporters.systemd import quote
from tandem.exporters.validate import check_units
from tandem.plan import Export, File, build_plan
from tests.unit.test_export_render import PYTHON, ROOT, project, read_write_paths
from tests.unit.test_nginx_render import example_routes

pytestmark = pytest.mark.usefixtures("django_settings")


def units(per_process: bool) -> tuple[File, ...]:
    options = ExportOptions(user="chat", per_process=per_process)
    relative = dataclasses.replace(
        project(False), static_root=Path("staticfiles"), media_root=Path("./media")
    )
    config = resolve_config({"mode": "split", "port": 80, "bind": "0.0.0.0", "procs": 1}, {}, {})
    target = Export(Path("/run/tandem"), "t", PYTHON, shared_fd("systemd", options), not per_process)
    return export_files("systemd", build_plan(config, relative, example_routes(), target), options)


@pytest.mark.parametrize("per_process", [False, True], ids=["one-service", "per-process"])
def test_relative_static_and_media_roots_are_joined_with_the_working_directory(per_process: bool) -> None:
    files = units(per_process)
    services = [f for f in files if f.path.endswith(".service")]
    expected = [f"{ROOT}/media"] if per_process else [f"{ROOT}/media", f"{ROOT}/staticfiles"]
    for unit in services:
        assert f"WorkingDirectory={ROOT}" in unit.content
        assert read_write_paths(unit.content) == expected, unit.content
    readme = next(f for f in files if f.path == "README.txt").content
    for path in expected:
        assert f"\n  {path}\n" in readme, readme


@pytest.mark.parametrize("per_process", [False, True], ids=["one-service", "per-process"])
def test_units_with_relative_roots_pass_systemd_analyze_verify(per_process: bool) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    python = quote(os.path.realpath(shutil.which("python3") or "/usr/bin/python3"))
    files = tuple(File(f.path, f.content.replace(quote(PYTHON), python)) for f in units(per_process))
    assert check_units(files, tool) is None
