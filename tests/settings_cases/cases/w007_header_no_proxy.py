"""tandem.W007: SECURE_PROXY_SSL_HEADER trusted while clients reach Daphne directly."""

from caseproj.base import *  # noqa: F403

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
