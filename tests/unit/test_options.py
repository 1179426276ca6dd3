"""The options table (tandem.options) is the one declaration of every option: Config's fields, the click
options of each command, the flag names in errors and the README's table all agree with it."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import click
import pytest

from tandem.cli import main
from tandem.config import _PARSERS, Config, describe_source
from tandem.options import BEGIN, CONFIG_OPTIONS, END, OPTIONS, for_command, readme_table, with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_config_field_is_in_the_table_once() -> None:
    fields = [f.name for f in dataclasses.fields(Config) if f.name != "sources"]
    names = [entry.name for entry in CONFIG_OPTIONS]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(fields)
    assert set(_PARSERS) == set(fields)  # each parsed by its type: a new type needs a parser


def test_choices_hold_the_default() -> None:
    defaults = Config()
    for entry in CONFIG_OPTIONS:
        if entry.choices:
            assert getattr(defaults, entry.name) in entry.choices, entry.name


def test_booleans_and_repeatables_have_matching_types() -> None:
    hints = typing.get_type_hints(Config)
    for entry in CONFIG_OPTIONS:
        if entry.switch:
            assert hints[entry.name] is bool, entry.name
        if entry.repeatable:
            assert hints[entry.name] == tuple[str, ...], entry.name


def _command(name: str) -> click.Command:
    command = main.commands[name]
    assert isinstance(command, click.Command)
    return command


@pytest.mark.parametrize("command", ["serve", "config", "check", "routes", "export", "bench"])
def test_each_command_has_exactly_its_table_flags(command: str) -> None:
    params = {p.name for p in _command(command).params if isinstance(p, click.Option)}
    declared = {entry.name for entry in for_command(command)}
    assert declared <= params
    # Whatever else the command takes is its own (--json, --out, --ready-timeout), not a tandem option.
    assert not (params - declared) & {entry.name for entry in OPTIONS}


def test_the_flag_in_errors_is_the_flag_click_takes() -> None:
    for entry in CONFIG_OPTIONS:
        if entry.commands:
            command = _command(entry.commands[0])
            param = next(p for p in command.params if p.name == entry.name)
            assert describe_source(entry.name, "cli") in param.opts, entry.name


def test_the_readme_table_is_generated_from_the_table() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "README.md lost its options markers"
    assert with_table(text) == text, (
        "README.md's option table differs from tandem.options: run python -m tandem.options --write README.md"
    )
    assert readme_table() in text
