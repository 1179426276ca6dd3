"""An ASGI module that fails to import, as a typo in a real one would."""

from caseproj.no_such_module import application  # noqa: F401
