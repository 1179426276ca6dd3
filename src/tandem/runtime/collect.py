"""``python -m tandem.runtime.collect STATIC_ROOT``: Django's collectstatic into the given directory.

Run by tandem in a fresh interpreter (DJANGO_SETTINGS_MODULE and PYTHONPATH set by the parent), so it works
without a manage.py and with tandem's embedded STATIC_ROOT for projects that set none.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    import django
    from django.conf import settings
    from django.core.management import call_command

    from tandem.pythonpath import honour_pythonpath

    honour_pythonpath(os.environ, sys.path)  # the order tandem imported the project with
    django.setup()
    if argv and argv[0]:
        # Before the staticfiles storage is first used: it reads STATIC_ROOT when it is built.
        settings.STATIC_ROOT = argv[0]
    call_command("collectstatic", interactive=False, verbosity=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))  # a child's entry point: its exit status is the result
