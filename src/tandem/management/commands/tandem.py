"""``python manage.py tandem serve|routes|config|export ...``: the same CLI, run from manage.py."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "django-tandem: serve, routes, config, export, check, verify, bench, status, reload, stop (see 'manage.py tandem --help')."

    def run_from_argv(self, argv: list[str]) -> None:
        # tandem has its own parser (click): hand it everything after "manage.py tandem".
        self._run(argv[2:], prog_name=f"{argv[0]} tandem")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        self._run(list(args), prog_name="manage.py tandem")

    def _run(self, args: list[str], prog_name: str) -> None:
        from tandem.cli import main

        main.main(args=args, prog_name=prog_name)
