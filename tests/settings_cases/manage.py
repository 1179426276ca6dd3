#!/usr/bin/env python
"""A tiny project whose settings modules (cases/*.py) each trigger or pass tandem's checks."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cases.good")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
