"""Project discovery: the project root, the settings module (--settings > DJANGO_SETTINGS_MODULE >
manage.py), the application paths (checked without running the module), what discovery reports, and
each failure as one line saying what is wrong, where tandem looked and how to fix it.

Reading files and checking paths are tested in this process on real files in tmp_path; anything that
imports settings runs `tandem config --json` as a subprocess, because Django's settings are
process-wide state that would leak from one test into the next.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tandem.errors import ProjectError, UsageError
from tandem.project import (
    check_app_path,
    find_root,
    locate,
    normalize_app_path,
    resolve_settings_module,
    settings_module_from_manage,
)
from tandem.projectfiles import NEARBY_MAX_FOUND, nearby_projects
from tests.conftest import clean_env, tandem_config
from tests.small_projects import SETTINGS, write, write_project

# --- the project root -------------------------------------------------------------------------------------


def test_root_is_the_directory_with_manage_py(tmp_path: Path) -> None:
    project = write_project(tmp_path / "site")
    assert find_root(None, project) == project.resolve()
    assert find_root(project, tmp_path) == project.resolve()


def test_not_a_django_project(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProjectError) as caught:
        find_root(None, empty)
    message = str(caught.value)
    assert f"not a Django project: no manage.py in {empty.resolve()} (the current directory)" in message
    assert "--project" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("where", ["parent", "child"])
def test_not_a_project_points_at_the_one_nearby(tmp_path: Path, where: str) -> None:
    project = write_project(tmp_path / "repo" / "site")
    start = project / "mysite" if where == "parent" else tmp_path / "repo"
    with pytest.raises(ProjectError) as caught:
        find_root(None, start)
    assert f"found one in {project.resolve()}: run tandem there or pass --project {project.resolve()}" in str(
        caught.value
    )


def test_the_one_nearby_is_found_a_few_levels_down_and_no_further(tmp_path: Path) -> None:
    deep = write_project(tmp_path / "repo" / "apps" / "web" / "site")  # three levels below repo
    write_project(tmp_path / "repo" / ".git" / "x")  # hidden: never read
    write_project(tmp_path / "repo" / "venv" / "lib" / "pkg").joinpath(
        "..", "..", "pyvenv.cfg"
    ).resolve().touch()
    write_project(tmp_path / "repo" / "a" / "b" / "c" / "too-deep")
    assert nearby_projects(tmp_path / "repo") == [deep]
    assert len(nearby_projects(tmp_path)) == 0  # four levels below: out of reach


def test_the_nearby_search_is_bounded(tmp_path: Path) -> None:
    for n in range(NEARBY_MAX_FOUND + 3):
        write_project(tmp_path / "many" / f"site{n}")
    assert len(nearby_projects(tmp_path / "many")) == NEARBY_MAX_FOUND
    with pytest.raises(ProjectError, match=r"\(also nearby: "):
        find_root(None, tmp_path / "many")


def test_following_the_nearby_hint_works(tmp_path: Path) -> None:
    write_project(tmp_path / "repo" / "src" / "site")
    first = tandem_config(tmp_path / "repo")
    assert first.returncode == 2
    hint = first.stderr.strip().splitlines()[-1]
    suggested = hint.split("pass --project ", 1)[1].split()[0]
    followed = tandem_config(tmp_path / "repo", "--project", suggested)
    assert followed.returncode == 0, followed.stderr
    assert "mysite.settings  [manage.py]" in followed.stdout


def test_project_option_naming_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"project directory .*/nowhere \(from --project\) does not exist"):
        find_root(tmp_path / "nowhere", tmp_path)


def test_project_option_naming_a_directory_without_manage_py(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no manage.py in .* \(given by --project\)"):
        find_root(tmp_path, Path("/"))


# --- the settings module named by manage.py ----------------------------------------------------------------

MANAGE_STYLES = {
    "startproject": """
        import os, sys
        def main():
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        if __name__ == "__main__":
            main()
    """,
    "single quotes": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
    "call split over lines": """
        import os
        os.environ.setdefault(
            "DJANGO_SETTINGS_MODULE",
            "mysite.settings",
        )
    """,
    "assignment": 'import os\nos.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"\n',
    "environ imported by name": (
        "from os import environ\nenviron.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
    ),
    "module-level constant": """
        import os
        SETTINGS = "mysite.settings"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    """,
    "an old line commented out first": """
        import os
        # os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oldsite.settings")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    """,
    "unparsable file, usual line": (
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\ndef broken(:\n"
    ),
}


@pytest.mark.parametrize("style", sorted(MANAGE_STYLES))
def test_settings_module_read_from_manage_py(tmp_path: Path, style: str) -> None:
    manage = write(tmp_path / "manage.py", MANAGE_STYLES[style])
    assert settings_module_from_manage(manage) == "mysite.settings"


def test_settings_module_with_dots_cookiecutter_style(tmp_path: Path) -> None:
    manage = write(
        tmp_path / "manage.py",
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")\n',
    )
    assert settings_module_from_manage(manage) == "config.settings.local"


@pytest.mark.parametrize(
    "source",
    [
        # Computed at run time: tandem cannot know it without running manage.py, so it says so.
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{os.environ[\'SITE\']}.settings")\n',
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("SITE_SETTINGS", ""))\n',
        "print('DJANGO_SETTINGS_MODULE is documented elsewhere')\n",
        "",
    ],
)
def test_settings_module_not_in_manage_py(tmp_path: Path, source: str) -> None:
    assert settings_module_from_manage(write(tmp_path / "manage.py", source)) is None


def test_settings_module_from_a_missing_manage_py(tmp_path: Path) -> None:
    assert settings_module_from_manage(tmp_path / "manage.py") is None


# --- settings module precedence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        ("site_c.settings", {"DJANGO_SETTINGS_MODULE": "site_b.settings"}, ("site_c.settings", "--settings")),
        (None, {"DJANGO_SETTINGS_MODULE": "site_b.settings"}, ("site_b.settings", "DJANGO_SETTINGS_MODULE")),
        (None, {"DJANGO_SETTINGS_MODULE": ""}, ("mysite.settings", "manage.py")),
        (None, {}, ("mysite.settings", "manage.py")),
    ],
)
def test_settings_module_precedence(
    tmp_path: Path, cli: str | None, env: dict[str, str], expected: tuple[str, str]
) -> None:
    project = write_project(tmp_path / "site")
    assert resolve_settings_module(cli, env, project) == expected


def test_no_settings_module_anywhere(tmp_path: Path) -> None:
    project = write_project(tmp_path / "site", manage="print('a manage.py that sets nothing')\n")
    write(project / "other" / "__init__.py", "")
    write(project / "other" / "settings" / "__init__.py", "")
    write(project / "other" / "settings" / "production.py", "")
    with pytest.raises(ProjectError) as caught:
        resolve_settings_module(None, {}, project)
    message = str(caught.value)
    assert "no settings module: --settings not given, DJANGO_SETTINGS_MODULE not set" in message
    assert str(project / "manage.py") in message
    assert "pass --settings" in message
    # It lists what does exist, so the fix can be copied.
    assert "settings modules under" in message
    assert "mysite.settings" in message
    assert "other.settings.production" in message


# --- application paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mysite.asgi.application", "mysite.asgi:application"),
        ("mysite.asgi:application", "mysite.asgi:application"),
        ("mysite.asgi:app.inner", "mysite.asgi:app.inner"),
    ],
)
def test_normalize_app_path(value: str, expected: str) -> None:
    assert normalize_app_path(value) == expected


@pytest.mark.parametrize("value", ["application", "mysite.asgi:", ":application"])
def test_normalize_app_path_refuses_a_bare_name(value: str) -> None:
    with pytest.raises(ProjectError, match=r"is not an application path.*module:attribute"):
        normalize_app_path(value, "--asgi")


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A uniquely named package on sys.path (only its __init__ is ever imported by the check)."""
    name = f"tandem_probe_{uuid.uuid4().hex[:12]}"
    write(tmp_path / "pkgroot" / name / "__init__.py", "")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgroot"))
    return name, tmp_path / "pkgroot"


# Writes a marker when run and defines no application: the check must not run it to find that out.
SIDE_EFFECT = """
from pathlib import Path
Path(__file__).with_name("ran.txt").write_text("imported")
"""


def test_missing_attribute_found_without_running_the_module(package: tuple[str, Path]) -> None:
    name, root = package
    write(root / name / "asgi.py", SIDE_EFFECT + "application_v2 = object()\n")
    with pytest.raises(ProjectError) as caught:
        check_app_path(f"{name}.asgi:application", "ASGI", "--asgi", root)
    message = str(caught.value)
    assert f"ASGI application '{name}.asgi:application' (from --asgi)" in message
    assert f"{name}/asgi.py defines no 'application' (did you mean 'application_v2'?)" in message
    assert "fix --asgi (module:attribute" in message
    assert not (root / name / "ran.txt").exists()


def test_existing_attribute_is_accepted_without_running_the_module(package: tuple[str, Path]) -> None:
    name, root = package
    write(root / name / "asgi.py", SIDE_EFFECT + "raise RuntimeError('never run')\napplication = object()\n")
    check_app_path(f"{name}.asgi:application", "ASGI", "--asgi", root)
    assert not (root / name / "ran.txt").exists()


def test_missing_module(package: tuple[str, Path]) -> None:
    name, root = package
    with pytest.raises(ProjectError, match=rf"ASGI module '{name}.routing' \(from --asgi\) not found in "):
        check_app_path(f"{name}.routing:application", "ASGI", "--asgi", root)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("default", "tandem looked for {name}.asgi because settings.ASGI_APPLICATION is not set: set "
                    "ASGI_APPLICATION, or pass --asgi module:attribute"),
        ("settings.ASGI_APPLICATION", "fix ASGI_APPLICATION in your settings"),
        ("TANDEM_ASGI", "fix the TANDEM_ASGI environment variable"),
        ("settings.TANDEM", "fix settings.TANDEM['ASGI']"),
    ],
)  # fmt: skip
def test_missing_app_hint_follows_its_source(package: tuple[str, Path], source: str, hint: str) -> None:
    name, root = package
    with pytest.raises(ProjectError) as caught:
        check_app_path(f"{name}.asgi:application", "ASGI", source, root)
    assert hint.format(name=name) in str(caught.value)


# Modules that do define ``application``, in ways a reader of top-level assignments alone would miss.
DEFINES_APPLICATION = {
    "star import": "from .real import *\n",
    "module __getattr__": "def __getattr__(name):\n    return object()\n",
    "conditional": "import os\nif os.environ.get('X'):\n    application = 1\nelse:\n    application = 2\n",
    "try/except import": "try:\n    from .real import application\nexcept ImportError:\n    application = None\n",
    "import as": "from .real import app as application\n",
    "for loop": "for application in [object()]:\n    pass\n",
    "with": "import contextlib\nwith contextlib.nullcontext(object()) as application:\n    pass\n",
    "tuple unpacking": "application, other = object(), object()\n",
    "annotated": "application: object = object()\n",
    "function": "def application(scope, receive, send):\n    pass\n",
    "class": "class application:\n    pass\n",
    "globals()": "globals()['application'] = object()\n",
    "setattr on the module": "import sys\nsetattr(sys.modules[__name__], 'application', object())\n",
    "walrus": "if (application := object()):\n    pass\n",
}


@pytest.mark.parametrize("style", sorted(DEFINES_APPLICATION))
def test_application_defined_in_any_way_is_not_rejected(package: tuple[str, Path], style: str) -> None:
    name, root = package
    write(root / name / "real.py", "application = object()\napp = application\n")
    write(root / name / "asgi.py", SIDE_EFFECT + DEFINES_APPLICATION[style])
    check_app_path(f"{name}.asgi:application", "ASGI", "--asgi", root)
    assert not (root / name / "ran.txt").exists()


def test_module_with_a_syntax_error_is_left_to_the_child(package: tuple[str, Path]) -> None:
    """The child reports a syntax error with its real traceback; the check does not guess."""
    name, root = package
    write(root / name / "asgi.py", "application = (\n")
    check_app_path(f"{name}.asgi:application", "ASGI", "--asgi", root)


@pytest.mark.parametrize(
    ("init", "error"),
    [
        ("x = 1\nraise RuntimeError('broken package')\n", "RuntimeError: broken package"),
        # A dependency the package imports is missing: that is not "module not found" for the ASGI module.
        ("x = 1\nimport tandem_missing_dependency\n", "No module named 'tandem_missing_dependency'"),
    ],
)
def test_package_whose_init_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str, error: str
) -> None:
    name = f"tandem_probe_{uuid.uuid4().hex[:12]}"
    write(tmp_path / name / "__init__.py", init)
    write(tmp_path / name / "asgi.py", "application = object()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProjectError) as caught:
        check_app_path(f"{name}.asgi:application", "ASGI", "--asgi", tmp_path)
    message = str(caught.value)
    assert f"ASGI module '{name}.asgi' (from --asgi): importing its package failed: " in message
    assert error in message
    assert f"({name}/__init__.py, line 2)" in message


# --- real projects: settings loaded in a subprocess ------------------------------------------------------------


def discovered(project: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = tandem_config(project, "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    facts: dict[str, Any] = json.loads(result.stdout)["project"]
    return facts


def test_settings_module_resolution_in_a_real_project(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "site",
        from_env=SETTINGS.format(package="mysite"),
        from_cli=SETTINGS.format(package="mysite"),
    )
    facts = discovered(project)
    assert facts["settings"] == {"value": "mysite.settings", "source": "manage.py"}
    env = clean_env(DJANGO_SETTINGS_MODULE="mysite.from_env")
    assert discovered(project, env=env)["settings"] == {
        "value": "mysite.from_env",
        "source": "DJANGO_SETTINGS_MODULE",
    }
    facts = discovered(project, "--settings", "mysite.from_cli", env=env)
    assert facts["settings"] == {"value": "mysite.from_cli", "source": "--settings"}
    # --project from elsewhere finds the same project.
    facts = discovered(tmp_path, "--project", str(project))
    assert facts["project"] == {"value": str(project.resolve()), "source": "--project, holds manage.py"}
    assert facts["sys_path"]["value"].split(os.pathsep) == [str(project.resolve()), str(tmp_path.resolve())]
    assert facts["sys_path"]["source"] == "like python -m django"


def test_without_manage_py_the_settings_name_the_project(tmp_path: Path) -> None:
    """Like `python -m django`: DJANGO_SETTINGS_MODULE or --settings, the current directory on sys.path."""
    project = write_project(tmp_path / "site", manage=None)
    for args, env in (
        ((), clean_env(DJANGO_SETTINGS_MODULE="mysite.settings")),
        (("--settings", "mysite.settings"), None),
    ):
        facts = discovered(project, *args, env=env)
        assert facts["project"] == {
            "value": str(project.resolve()),
            "source": "the current directory, no manage.py (like python -m django)",
        }
        assert facts["sys_path"]["value"] == str(project.resolve())


def test_pythonpath_directories_come_first(tmp_path: Path) -> None:
    project = write_project(tmp_path / "site", manage=None)
    lib = tmp_path / "lib"
    lib.mkdir()
    facts = discovered(project, "--settings", "mysite.settings", "--pythonpath", "../lib")
    assert facts["sys_path"]["value"].split(os.pathsep) == [str(lib.resolve()), str(project.resolve())]


def test_pythonpath_is_repeatable_in_the_order_given(tmp_path: Path) -> None:
    """--pythonpath twice: both directories, in the order given, before the project; the settings package
    lives only in the second, so importing it proves the second one is used (config imports the settings)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = write_project(tmp_path / "site", manage=None)
    lib = tmp_path / "lib"
    lib.mkdir()
    facts = discovered(
        elsewhere, "--settings", "mysite.settings", "--pythonpath", "../lib", "--pythonpath", str(project)
    )
    assert facts["sys_path"]["value"].split(os.pathsep)[:2] == [str(lib.resolve()), str(project.resolve())]


def test_pythonpath_to_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        locate(None, "mysite.settings", {}, tmp_path, [Path("nowhere")])
    assert str(caught.value).startswith("--pythonpath nowhere does not exist")
    assert caught.value.exit_code == 2


def test_a_settings_package_shadowed_by_a_nested_one_is_found(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_project(repo, package="tests", manage=None)
    example = write_project(repo / "example", package="exsite")
    write(example / "tests" / "__init__.py", "")
    located = locate(example, None, {"DJANGO_SETTINGS_MODULE": "tests.settings"}, repo)
    assert located.sys_path == (str(repo.resolve()), str(example.resolve()))
    assert "would shadow the settings package 'tests'" in located.sys_path_note
    facts = discovered(repo, "--project", "example", env=clean_env(DJANGO_SETTINGS_MODULE="tests.settings"))
    assert facts["settings"] == {"value": "tests.settings", "source": "DJANGO_SETTINGS_MODULE"}
    assert facts["asgi_app"]["value"] == "tests.asgi:application"


def test_discovery_reports_apps_files_and_channel_layer(tmp_path: Path) -> None:
    settings = SETTINGS.format(package="mysite") + (
        f"STATIC_ROOT = {str(tmp_path / 'collected')!r}\nMEDIA_URL = '/uploads/'\nMEDIA_ROOT = {str(tmp_path / 'up')!r}\n"
    )
    project = write_project(tmp_path / "site", settings=settings)
    facts = discovered(project)
    assert facts["asgi_app"] == {"value": "mysite.asgi:application", "source": "settings.ASGI_APPLICATION"}
    assert facts["wsgi_app"] == {"value": "mysite.wsgi:application", "source": "settings.WSGI_APPLICATION"}
    assert facts["static"]["value"] == f"/static/ -> {tmp_path / 'collected'}"
    assert facts["media"]["value"] == f"/uploads/ -> {tmp_path / 'up'}"
    assert facts["channel_layer_backend"] == {
        "value": "channels.layers.InMemoryChannelLayer",
        "source": "settings",
    }

    facts = discovered(
        project, "--channel-layer", "redis://127.0.0.1:6379/3", "--asgi", "mysite.asgi.application"
    )
    assert facts["channel_layer_backend"] == {
        "value": "channels_redis.core.RedisChannelLayer",
        "source": "--channel-layer",
    }
    assert facts["asgi_app"] == {"value": "mysite.asgi:application", "source": "--asgi"}


def test_default_application_paths(tmp_path: Path) -> None:
    settings = SETTINGS.format(package="mysite").replace('ASGI_APPLICATION = "mysite.asgi.application"\n', "")
    settings = settings.replace('WSGI_APPLICATION = "mysite.wsgi.application"\n', "")
    facts = discovered(write_project(tmp_path / "site", settings=settings))
    assert facts["asgi_app"] == {"value": "mysite.asgi:application", "source": "default"}
    assert facts["wsgi_app"] == {"value": "mysite.wsgi:application", "source": "default"}
    assert facts["static"]["value"] == "/static/ -> STATIC_ROOT not set"


def _without_asgi_setting(text: str) -> str:
    return text.replace('ASGI_APPLICATION = "mysite.asgi.application"\n', "")


# (files replacing the minimal project's, extra arguments, what the one error line must say)
BROKEN: dict[str, tuple[dict[str, str | None], tuple[str, ...], tuple[str, ...]]] = {
    "manage.py names a missing settings module": (
        {"manage": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ghost.settings')\n"},
        (),
        ("settings module 'ghost.settings' (from manage.py) not found in ",
         "fix DJANGO_SETTINGS_MODULE in manage.py, or pass --settings",
         "settings modules under", "mysite.settings"),
    ),
    "--settings names a missing module": (
        {},
        ("--settings", "mysite.nope"),
        ("settings module 'mysite.nope' (from --settings) not found", "fix --settings", "mysite.settings"),
    ),
    "settings raise": (
        {"settings": "SECRET_KEY = 'x'\nDEBUG = False\nraise ValueError('CHAT_SECRET must be set')\n"},
        (),
        ("settings module 'mysite.settings' (from manage.py) failed to import: ValueError: CHAT_SECRET must be set",
         "(mysite/settings.py, line 3)", "python manage.py check"),
    ),
    "settings import a missing package": (
        {"settings": "import definitely_not_installed_pkg\n"},
        (),
        ("failed to import: ModuleNotFoundError: No module named 'definitely_not_installed_pkg'",
         "(mysite/settings.py, line 1)", "install the missing package"),
    ),
    "settings with a syntax error": (
        {"settings": "SECRET_KEY = 'x'\nINSTALLED_APPS = [\n"},
        (),
        ("failed to import: SyntaxError: ", "(mysite/settings.py, line 2)"),
    ),
    "ASGI_APPLICATION names a missing attribute": (
        {"settings": SETTINGS.format(package="mysite").replace("asgi.application", "asgi.app")},
        (),
        ("ASGI application 'mysite.asgi:app' (from settings.ASGI_APPLICATION): mysite/asgi.py defines no 'app'",
         "fix ASGI_APPLICATION in your settings"),
    ),
    "--asgi names a missing attribute": (
        {},
        ("--asgi", "mysite.asgi:aplication"),
        ("mysite/asgi.py defines no 'aplication' (did you mean 'application'?)", "fix --asgi"),
    ),
    "no ASGI_APPLICATION and no asgi.py": (
        {"settings": _without_asgi_setting(SETTINGS.format(package="mysite")), "asgi": None},
        (),
        ("ASGI module 'mysite.asgi' (from default) not found in",
         "tandem looked for mysite.asgi because settings.ASGI_APPLICATION is not set"),
    ),
    "bare --asgi name": (
        {},
        ("--asgi", "application"),
        ("'application' (from --asgi) is not an application path", "module:attribute"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_discovery_error_is_one_clear_line(tmp_path: Path, case: str) -> None:
    files, args, expected = BROKEN[case]
    project = write_project(tmp_path / "site", **files)
    result = tandem_config(project, "--json", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tandem: error: ")
    for fragment in expected:
        assert fragment in lines[0]
