"""The one severity table: for every code, the level `tandem check` reports is the level `serve` acts on
(errors refuse to start, warnings are printed), and `manage.py check` sees the same level."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import checks

from tandem.checks import as_dict, blocking, warnings
from tandem.checks.messages import finding
from tandem.checks.runner import CheckReport
from tandem.checks.severity import TABLE, severity

CHECKS_DIR = Path(__file__).resolve().parents[2] / "src" / "tandem" / "checks"
README = Path(__file__).resolve().parents[2] / "README.md"
LEVELS = {"E": checks.ERROR, "W": checks.WARNING, "I": checks.INFO}


@pytest.mark.parametrize("code", sorted(TABLE))
def test_check_and_serve_agree(code: str) -> None:
    message = finding(code, "m", "h", "o")
    level = severity(code).level
    assert message.id == f"tandem.{code}" and message.level == level
    assert LEVELS[code[0]] == level, "the letter of a code says its level"
    reported = as_dict(message)["level"]  # what `tandem check --json` prints
    report = CheckReport("unified", 1, "s", (message,))
    stops_serve = bool(blocking([message]))
    assert stops_serve is (reported == "error") is (report.errors == 1) is message.is_serious()
    assert bool(warnings([message])) is (reported == "warning") is (report.warnings == 1)


def test_every_code_built_is_in_the_table() -> None:
    built = set()
    for module in CHECKS_DIR.glob("*.py"):
        built |= set(re.findall(r'finding\(\s*"([EWI]\d{3})"', module.read_text()))
        built |= set(re.findall(r'_import_error\(\s*"([EWI]\d{3})"', module.read_text()))
    assert built == set(TABLE), "every code in the table is built by a check, and only those"


def test_readme_lists_every_code() -> None:
    listed = set(re.findall(r"^\| tandem\.([EWI]\d{3}) \|", README.read_text(), re.MULTILINE))
    assert listed == set(TABLE)


def test_unknown_code_is_a_bug() -> None:
    with pytest.raises(KeyError):
        finding("E999", "m", "h", "o")
