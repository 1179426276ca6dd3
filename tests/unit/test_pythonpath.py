"""The sys.path order tandem and its children import the project with: python -m django's (the
--pythonpath directories, then the project directory, then the current directory), with the settings
package never shadowed by a same-named package earlier on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.pythonpath import (
    apply,
    environ_value,
    guard_settings,
    honour_pythonpath,
    plain_order,
    search_path,
)
from tests.conftest import clean_env
from tests.small_projects import write


def package(root: Path, dotted: str) -> Path:
    """``root/a/b.py`` for ``a.b``, with every package's __init__.py."""
    parts = dotted.split(".")
    for depth in range(1, len(parts)):
        write(root.joinpath(*parts[:depth], "__init__.py"), "")
    return write(root.joinpath(*parts[:-1], parts[-1] + ".py"), "VALUE = 1\n")


def test_plain_order_is_pythonpath_then_project_then_cwd(tmp_path: Path) -> None:
    a, b, root, cwd = (tmp_path / n for n in ("a", "b", "root", "cwd"))
    assert plain_order([a, b], root, cwd) == [a, b, root, cwd]
    assert plain_order([], root, root) == [root]  # the usual case: run where manage.py is
    assert plain_order([root], root, cwd) == [root, cwd]  # each once


def test_nothing_moves_when_nothing_shadows(tmp_path: Path) -> None:
    root, cwd = tmp_path / "root", tmp_path
    package(root, "mysite.settings")
    assert guard_settings([root, cwd], "mysite.settings").entries == (root, cwd)
    assert guard_settings([root, cwd], "mysite.settings").note == ""


def test_the_directory_holding_the_settings_moves_before_a_shadowing_package(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    example = repo / "example"
    package(repo, "tests.settings")
    write(example / "tests" / "__init__.py", "")  # the example project's own tests: no settings there
    path = search_path([], example, repo, "tests.settings")
    assert path.entries == (repo, example)
    assert f"{example / 'tests'} would shadow the settings package 'tests'" in path.note


def test_a_namespace_directory_does_not_shadow(tmp_path: Path) -> None:
    repo, example = tmp_path / "repo", tmp_path / "repo" / "example"
    package(repo, "tests.settings")
    (example / "tests").mkdir(parents=True)  # no __init__.py: Python keeps looking past it
    assert search_path([], example, repo, "tests.settings").entries == (example, repo)


def test_settings_found_nowhere_leave_the_order_alone(tmp_path: Path) -> None:
    # Installed settings (site-packages) or a typo: the import reports it, the order stays python -m django's.
    entries = plain_order([], tmp_path / "root", tmp_path)
    assert guard_settings(entries, "installed.settings").entries == tuple(entries)


def test_environ_value_puts_tandems_entries_first_each_once() -> None:
    sep = os.pathsep
    assert environ_value(["/p", "/root"], None) == f"/p{sep}/root"
    assert environ_value(["/root"], f"/theirs{sep}/root{sep}") == f"/root{sep}/theirs"


def test_apply_moves_entries_to_the_front_in_order() -> None:
    path = ["/venv/bin", "/root", "/lib"]
    apply(["/p", "/root"], path)
    assert path == ["/p", "/root", "/venv/bin", "/lib"]


def test_a_child_honours_its_pythonpath_over_the_servers_working_directory(tmp_path: Path) -> None:
    # Daphne inserts "." and Gunicorn its --chdir first: the order tandem chose must win again.
    monkey_cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        path = [".", str(tmp_path), "/lib"]
        honour_pythonpath({"PYTHONPATH": os.pathsep.join(["/repo", str(tmp_path)])}, path)
    finally:
        os.chdir(monkey_cwd)
    assert path == ["/repo", str(tmp_path), "/lib"]


@pytest.mark.parametrize("with_lib", [False, True])
def test_the_order_is_python_m_djangos(tmp_path: Path, with_lib: bool) -> None:
    """What `python -m django [--pythonpath lib]` puts first, run in the project dir, is what tandem uses."""
    project = tmp_path / "project"
    package(project, "mysite.settings")
    (project / "lib").mkdir()
    extra = ["--pythonpath", str(project / "lib")] if with_lib else []
    code = "import sys; print(sys.path[:3])"
    django = subprocess.run(
        [sys.executable, "-m", "django", "shell", "-c", code, "--settings", "mysite.settings", *extra],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first = [Path(p).resolve() for p in eval(django.stdout.strip().splitlines()[-1]) if p]
    ours = plain_order([project / "lib"] if with_lib else [], project, project)
    assert [p for p in dict.fromkeys(first)][: len(ours)] == ours
