"""The command line: parses arguments and calls the public functions (tandem.launcher and friends).

Every TandemError becomes one line on stderr and its own exit code; only this package exits. Each module
registers its commands on the one click group, ``main``.
"""

from tandem.cli import bench, control, diagnose, run
from tandem.cli.base import main

__all__ = ["bench", "control", "diagnose", "main", "run"]
