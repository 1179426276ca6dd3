"""tandem.W010: STATIC_ROOT set but collectstatic never ran."""

from caseproj.base import *  # noqa: F403

STATIC_ROOT = str(BASE_DIR / "never-collected")  # noqa: F405
