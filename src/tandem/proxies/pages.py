"""What the proxies answer themselves when the app servers do not, one text for nginx and Caddy."""

from __future__ import annotations

# Sent with the proxy's own 502/503/504 (an app server down or restarting, or too slow to answer), in
# place of nginx's or Caddy's default page; the status code is kept, so clients and WebSocket handshakes
# still see the failure. No quote, brace, backslash or "$": both config languages carry it as one token.
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Temporarily unavailable</title>"
    "<h1>The application is restarting or temporarily unavailable</h1>"
    "<p>Please try again in a moment.</p></html>"
)
RETRY_AFTER = 5  # seconds, the Retry-After sent with it
