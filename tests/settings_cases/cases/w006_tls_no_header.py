"""tandem.W006 and W008: https public URL, no SECURE_PROXY_SSL_HEADER, no CSRF_TRUSTED_ORIGINS."""

from caseproj.base import *  # noqa: F403

TANDEM = {"PUBLIC_URL": "https://chat.example.com"}
