"""tandem.E005 (split mode): WSGI_APPLICATION names a module that does not exist."""

from caseproj.base import *  # noqa: F403

WSGI_APPLICATION = "caseproj.no_wsgi_here.application"
