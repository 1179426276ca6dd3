"""What a static file's response tells caches, in every mode: one declaration that nginx's and Caddy's
templates and servestatic (unified mode) all use.

Django's ManifestStaticFilesStorage names each collected file after its content ("app.3f2a9c81d0b4.css"):
such a name never changes content, so caches may keep it a year without asking again. Any other name can
change content under the same URL on the next deploy, so it is kept an hour.
"""

from __future__ import annotations

import re

# "name.<the first 12 hex digits of the MD5 of its content>.ext", as hashed_name() writes it. Matched
# against the URL path (nginx's map on $uri, Caddy's path_regexp, servestatic's url) and written into both
# configs as is: nginx reads it inside quotes ("$" at the end is the anchor, not a variable), Caddy as one
# token ("{12}" is no placeholder). Both are checked by the real tools (nginx -t, caddy validate).
HASHED_NAME = r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=3600"
NOSNIFF = "nosniff"

_HASHED = re.compile(HASHED_NAME)


def is_hashed(url: str) -> bool:
    return _HASHED.search(url) is not None


def cache_control(url: str) -> str:
    return IMMUTABLE if is_hashed(url) else SHORT
