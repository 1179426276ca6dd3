"""Issue 12 item 5 (P5): the per-user instance registry is checked before tandem writes into it. A
registry directory that is a symlink, or that belongs to another user, could point tandem's writes (as
root: anywhere) at a file of someone else's choosing or let them plant and delete entries: `tandem serve`
refuses it (exit 2, one line naming the registry, nothing started, nothing written through it). An
``$XDG_RUNTIME_DIR`` that belongs to someone else is not used at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import TandemRunner, example_env
from tests.hostile.neighbours import LocalUser


def cache_env(project: Path, cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in example_env(project).items() if k != "XDG_RUNTIME_DIR"}
    return {**env, "XDG_CACHE_HOME": str(cache), **extra}


def refused(tandem: TandemRunner, project: Path, env: dict[str, str], registry: Path) -> str:
    code, output = tandem.run("serve", "--port", "0", cwd=project, env=env, timeout=90)
    assert code == 2, output
    assert "Traceback" not in output and "Ready:" not in output, output
    assert f"the instance registry {registry}" in output, output
    return output


def test_a_symlinked_registry_is_refused(example_project: Path, tmp_path: Path, tandem: TandemRunner) -> None:
    # Ours and private, but reached through a link: whoever can change the link decides where we write.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tandem").symlink_to(elsewhere)
    output = refused(tandem, example_project, cache_env(example_project, cache), cache / "tandem")
    print(f"figure: symlinked registry: {output.strip().splitlines()[-1]}")
    assert "is a symlink" in output, output
    assert list(elsewhere.iterdir()) == [], "an entry was written through the symlink"


def test_a_registry_of_another_user_is_refused(
    example_project: Path, tmp_path: Path, tandem: TandemRunner, second_user: LocalUser
) -> None:
    cache = tmp_path / "cache"
    theirs = cache / "tandem"
    theirs.mkdir(parents=True, mode=0o700)
    os.chown(theirs, second_user.uid, second_user.gid)
    output = refused(tandem, example_project, cache_env(example_project, cache), theirs)
    print(f"figure: registry owned by {second_user.name}: {output.strip().splitlines()[-1]}")
    assert f"is owned by {second_user.name}" in output, output
    assert list(theirs.iterdir()) == []


def test_an_xdg_runtime_dir_of_another_user_is_not_used(
    example_project: Path, tmp_path: Path, tandem: TandemRunner, second_user: LocalUser
) -> None:
    """Their directory would otherwise hold our entries: tandem registers in its own cache directory."""
    theirs = tmp_path / "xdg-theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, second_user.uid, second_user.gid)
    cache = tmp_path / "cache"
    env = cache_env(example_project, cache, XDG_RUNTIME_DIR=str(theirs))
    run = tandem.serve(example_project, env=env)
    entries = list((cache / "tandem").glob("*.json"))
    print(f"figure: XDG_RUNTIME_DIR owned by {second_user.name}: entry written to {entries}")
    assert [p.name for p in entries] == [f"{run.proc.pid}.json"]
    assert json.loads(entries[0].read_text())["pid"] == run.proc.pid
    assert list(theirs.iterdir()) == []
    code, output = tandem.run("stop", cwd=example_project, env=env)
    assert code == 0 and "stopping" in output, output
    assert run.wait_exit(timeout=60) == 0
