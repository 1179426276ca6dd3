"""tandem.W002: ASGI_APPLICATION not set; tandem falls back to caseproj.asgi:application (it exists).

In the caseproj package, not cases/, because the fallback is <settings package>.asgi:application.
"""

from caseproj.base import *  # noqa: F403

del ASGI_APPLICATION  # noqa: F821
