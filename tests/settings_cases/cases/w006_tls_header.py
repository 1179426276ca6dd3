"""Passes tandem.W006, W007 and W008: behind TLS with the proxy header configured."""

from caseproj.base import *  # noqa: F403

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TANDEM = {"PUBLIC_URL": "https://chat.example.com"}
