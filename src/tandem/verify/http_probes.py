"""HTTP probes: the root answers, the diagnostic endpoint (client address, scheme), a static file."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tandem.diagnostics import DIAGNOSE_PATH, SERVED_BY_HEADER, TOKEN_HEADER
from tandem.verify.results import FAIL, PASS, SKIP, WARN, Result, Target
from tandem.verify.targets import pick_from_page

SPOOFED_ADDRESS = "203.0.113.77"  # TEST-NET-3 (RFC 5737): never a real client
# Headers Django's default middleware put on every response it makes; a static file carrying the same
# ones as Django's own pages went through that middleware.
DJANGO_FINGERPRINT = ("x-frame-options", "cross-origin-opener-policy", "referrer-policy")
# Headers a proxy adds on the way in; seen by the app without the prober sending them = a proxy in front.
FORWARDING_HEADERS = (
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-host",
    "via",
)
_PROXY_SERVERS = re.compile(r"nginx|caddy|apache|envoy|traefik|haproxy|cloudflare|openresty", re.IGNORECASE)
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
_HSTS_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass
class Observed:
    """What earlier probes learnt, for later ones."""

    root: httpx.Response | None = None
    diagnostic: dict[str, Any] | None = None
    diagnostic_response: httpx.Response | None = None
    local_address: str | None = None
    proxy_evidence: list[str] = field(default_factory=list)

    def proxy_in_front(self) -> bool:
        """Something stands between the prober and the app: the diagnostic report says so, or the root
        page's Server/Via headers name a proxy (enough without a token)."""
        if self.proxy_evidence:
            return True
        headers = self.root.headers if self.root is not None else httpx.Headers()
        return "via" in headers or bool(_PROXY_SERVERS.search(headers.get("server", "")))


def client(target: Target) -> httpx.AsyncClient:
    verify: Any = target.ssl_context() if target.https else True
    # trust_env=False: an HTTP(S)_PROXY from the environment would put another hop between us and the site.
    return httpx.AsyncClient(
        verify=verify,
        trust_env=False,
        follow_redirects=False,
        timeout=target.timeout,
        headers={"User-Agent": "tandem-verify"},
    )


def describe_error(exc: Exception, target: Target) -> tuple[str, str]:
    """(what happened, what to do) for a request that got no HTTP answer."""
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
        return (
            f"TLS certificate not trusted: {text}",
            "pass --cacert FILE with the CA that signed it (or --insecure)",
        )
    if isinstance(exc, httpx.ConnectTimeout | httpx.ReadTimeout):
        return (
            f"no answer within {target.timeout} s",
            "check that the server runs and the address is right (--timeout to wait longer)",
        )
    if isinstance(exc, httpx.ConnectError):
        return (
            f"cannot connect to {target.origin}: {text}",
            "start the deployment, or check the host and port",
        )
    return f"{type(exc).__name__}: {text}", "check the URL"


async def probe_root(http: httpx.AsyncClient, target: Target, seen: Observed) -> Result:
    name = "HTTP /"
    sent = f"GET {httpx.URL(target.url).path}"
    try:
        response = await http.get(target.url, headers=_token_headers(target))
    except httpx.HTTPError as exc:
        detail, hint = describe_error(exc, target)
        return Result(name, FAIL, detail, hint, sent=sent)
    seen.root = response
    status = response.status_code
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    if status >= 500:
        hint = (
            "the proxy cannot reach the app server: is it running, and is the upstream address right?"
            if status in (502, 503, 504)
            else "the app raised: see the server's log"
        )
        return Result(name, FAIL, f"HTTP {status} ({kind})", hint, sent=sent)
    if status == 400:
        return Result(
            name,
            FAIL,
            "HTTP 400 Bad Request",
            f"add '{httpx.URL(target.url).host}' to ALLOWED_HOSTS (Django refuses unknown Host headers with 400)",
            sent=sent,
        )
    where = f" -> {response.headers['location']}" if "location" in response.headers else ""
    return Result(name, PASS, f"HTTP {status} ({kind}){where}", sent=sent)


def _token_headers(target: Target) -> dict[str, str]:
    return {TOKEN_HEADER: target.token} if target.token else {}


async def _diagnose(
    http: httpx.AsyncClient, target: Target, headers: dict[str, str]
) -> tuple[httpx.Response, dict[str, Any] | None, str | None]:
    """(response, JSON report or None, the local address this request left from)."""
    assert target.token is not None
    async with http.stream(
        "GET", target.http_url(DIAGNOSE_PATH), headers={TOKEN_HEADER: target.token, **headers}
    ) as response:
        stream = response.extensions.get("network_stream")
        local = stream.get_extra_info("client_addr") if stream is not None else None
        await response.aread()
    data = None
    if response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        data = parsed if isinstance(parsed, dict) and "remote_addr" in parsed else None
    return response, data, (str(local[0]) if local else None)


async def probe_diagnostic(http: httpx.AsyncClient, target: Target, seen: Observed) -> Result:
    name = "diagnostic endpoint"
    sent = f"GET {DIAGNOSE_PATH} with the diagnostic token"
    if not target.token:
        return Result(
            name,
            SKIP,
            "no token: client address and scheme checks need the diagnostic endpoint",
            "configure a token (TANDEM_DIAGNOSTIC_TOKEN or TANDEM = {'DIAGNOSTIC_TOKEN': ...}) where the site runs, "
            "and pass the same with --token or TANDEM_DIAGNOSTIC_TOKEN",
        )
    try:
        response, data, local = await _diagnose(http, target, {})
    except httpx.HTTPError as exc:
        detail, hint = describe_error(exc, target)
        return Result(name, FAIL, detail, hint, sent=sent)
    if data is None:
        return Result(
            name,
            FAIL,
            f"GET {DIAGNOSE_PATH} with the token answered HTTP {response.status_code}, not the diagnostic report",
            "under tandem serve set the same token (TANDEM_DIAGNOSTIC_TOKEN); in a hand-built deployment add "
            "path('.tandem/diagnose', tandem.diagnostics.diagnose_view) to urls.py and set TANDEM = {'DIAGNOSTIC_TOKEN': ...}",
            sent=sent,
        )
    seen.diagnostic, seen.diagnostic_response, seen.local_address = data, response, local
    seen.proxy_evidence = proxy_evidence(data, response, target, sent=set())
    front = f"; in front: {', '.join(seen.proxy_evidence)}" if seen.proxy_evidence else "; no proxy in front"
    return Result(name, PASS, f"answered by {data.get('server')} (pid {data.get('pid')}){front}", sent=sent)


def proxy_evidence(
    data: dict[str, Any], response: httpx.Response, target: Target, sent: set[str]
) -> list[str]:
    """Signs that something stands between the prober and the app server."""
    evidence = []
    seen_headers = {str(k).lower() for k in (data.get("headers") or {})}
    added = [h for h in FORWARDING_HEADERS if h in seen_headers and h not in sent]
    if added:
        evidence.append("the app saw " + ", ".join(added))
    server_address = data.get("server_address")
    if isinstance(server_address, list) and len(server_address) == 2:
        host, port = server_address
        if port is None or (isinstance(port, int) and port != target.port):
            evidence.append(f"the app server listens on {host}{':' + str(port) if port else ''}")
    server = response.headers.get("server", "")
    if _PROXY_SERVERS.search(server):
        evidence.append(f"Server: {server}")
    return evidence


def _same_address(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    try:
        left, right = ipaddress.ip_address(a.strip("[]")), ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return a == b
    if isinstance(left, ipaddress.IPv6Address) and left.ipv4_mapped:
        left = left.ipv4_mapped
    if isinstance(right, ipaddress.IPv6Address) and right.ipv4_mapped:
        right = right.ipv4_mapped
    return left == right


async def probe_client_address(http: httpx.AsyncClient, target: Target, seen: Observed) -> Result:
    name = "client address"
    if seen.diagnostic is None:
        return Result(name, SKIP, "needs the diagnostic endpoint (see above)")
    sent = f"GET {DIAGNOSE_PATH} with the token and X-Forwarded-For, X-Real-IP, Forwarded: {SPOOFED_ADDRESS}"
    spoof = {
        "X-Forwarded-For": SPOOFED_ADDRESS,
        "X-Real-IP": SPOOFED_ADDRESS,
        "Forwarded": f"for={SPOOFED_ADDRESS}",
    }
    try:
        _, data, _ = await _diagnose(http, target, spoof)
    except httpx.HTTPError as exc:
        detail, hint = describe_error(exc, target)
        return Result(name, FAIL, detail, hint, sent=sent)
    if data is None:
        return Result(
            name,
            FAIL,
            "the diagnostic endpoint stopped answering when forwarding headers were sent",
            sent=sent,
        )
    spoofed = data.get("remote_addr")
    honest = seen.diagnostic.get("remote_addr")
    if spoofed == SPOOFED_ADDRESS:
        return Result(
            name,
            FAIL,
            f"spoofable: a request claiming X-Forwarded-For: {SPOOFED_ADDRESS} made Django see {SPOOFED_ADDRESS}",
            "the proxy passes on what the client sent (nginx $proxy_add_x_forwarded_for appends to it, and "
            "Daphne --proxy-headers takes the left-most value): overwrite it with "
            "proxy_set_header X-Forwarded-For $remote_addr; (and X-Real-IP $remote_addr)",
            sent=sent,
        )
    if spoofed != honest:
        return Result(
            name,
            WARN,
            f"Django sees {spoofed} when forwarding headers are sent, {honest} otherwise",
            "the client's forwarding headers change what Django sees: make the proxy overwrite them",
            sent=sent,
        )
    if not _same_address(honest, seen.local_address):
        return Result(
            name,
            WARN,
            f"Django sees {honest}, this prober connected from {seen.local_address}",
            "fine behind NAT or a load balancer you trust; otherwise the proxy does not pass the client address "
            "(nginx: proxy_set_header X-Real-IP $remote_addr; Daphne --proxy-headers)",
            sent=sent,
        )
    return Result(
        name,
        PASS,
        f"Django sees {honest} (the prober), and ignores a spoofed X-Forwarded-For",
        sent=sent,
    )


def probe_scheme(target: Target, seen: Observed) -> Result | None:
    if not target.https:
        return None
    name = "https scheme"
    if seen.diagnostic is None:
        return Result(name, SKIP, "needs the diagnostic endpoint to see what Django sees")
    scheme = seen.diagnostic.get("scheme")
    if scheme == "https":
        return Result(name, PASS, "Django sees https (request.is_secure() is True)")
    return Result(
        name,
        FAIL,
        f"Django sees {scheme} behind the TLS proxy: request.is_secure() is False, CSRF origin checks fail on POST",
        "have the proxy send proxy_set_header X-Forwarded-Proto $scheme; and set "
        "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')",
    )


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def probe_hsts(target: Target, seen: Observed) -> Result | None:
    """Strict-Transport-Security on the https root page. HSTS is opt-in, so its absence is reported (SKIP),
    never a failure; a header browsers would ignore (no valid max-age, or sent more than once with different
    values) is a WARN. Reads the answer ``probe_root`` already got: nothing is sent."""
    if not target.https or seen.root is None:
        return None
    name = "HSTS"
    values = seen.root.headers.get_list("strict-transport-security")
    enable = (
        "to have browsers use https only for this host, send it: tandem serve --hsts SECONDS, Django's "
        'SECURE_HSTS_SECONDS, or nginx add_header Strict-Transport-Security "max-age=N" always;'
    )
    if not values:
        return Result(name, SKIP, "no Strict-Transport-Security on GET / over https (HSTS is opt-in)", enable)
    if len(set(values)) > 1:
        return Result(
            name,
            WARN,
            f"Strict-Transport-Security sent {len(values)} times with different values: {' | '.join(values)}",
            "browsers use only the first; send it once (an nginx add_header in both server and location?)",
        )
    directives = [d.strip() for d in values[0].split(";") if d.strip()]
    ages = [d for d in directives if d.lower().startswith("max-age")]
    age = _HSTS_MAX_AGE.fullmatch(ages[0]) if len(ages) == 1 else None
    if age is None:
        return Result(
            name,
            WARN,
            f"Strict-Transport-Security: {values[0]}: browsers ignore it without exactly one valid max-age",
            "send e.g. Strict-Transport-Security: max-age=31536000",
        )
    seconds = int(age.group(1))
    if seconds == 0:
        return Result(
            name,
            SKIP,
            "Strict-Transport-Security: max-age=0 tells browsers to forget HSTS for this host",
            enable,
        )
    flags = [d for d in directives if d.lower() in ("includesubdomains", "preload")]
    more = f"; {'; '.join(flags)}" if flags else ""
    return Result(name, PASS, f"Strict-Transport-Security: max-age={seconds} ({_duration(seconds)}){more}")


def cache_lifetime(headers: httpx.Headers, now: float | None = None) -> str | None:
    """How the response lets caches keep it ("max-age=3600", "Expires in 1 h"), or None."""
    cache_control = headers.get("cache-control", "")
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    match = _MAX_AGE.search(cache_control)
    if match:
        return f"Cache-Control: {cache_control}" if int(match.group(1)) > 0 else None
    if "immutable" in lowered:
        return f"Cache-Control: {cache_control}"
    expires = headers.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError):
            return None
        if when > (now if now is not None else time.time()):
            return f"Expires: {expires}"
    return None


def django_fingerprint(static: httpx.Headers, page: httpx.Headers | None) -> list[str]:
    """Django middleware headers the static response shares with Django's own page."""
    if page is None:
        return []
    shared = [h for h in DJANGO_FINGERPRINT if h in page and static.get(h) == page.get(h)]
    return shared if len(shared) == len([h for h in DJANGO_FINGERPRINT if h in page]) else []


async def probe_static(
    http: httpx.AsyncClient, target: Target, seen: Observed, path: str | None, source: str = ""
) -> Result:
    if not path:
        linked = page_asset(seen)
        if linked is None:
            return Result(
                "static file",
                SKIP,
                "no static file to ask for: not known from the project, and the root page links none",
                "pass --static-path /static/css/site.css, or run verify inside the project",
            )
        path, source = linked, "the root page's links"
    name = f"static {path}"
    sent = f"GET {path} (from {source})" if source else f"GET {path}"
    try:
        response = await http.get(target.http_url(path), headers=_token_headers(target))
    except httpx.HTTPError as exc:
        detail, hint = describe_error(exc, target)
        return Result(name, FAIL, detail, hint, sent=sent)
    if response.status_code != 200:
        return Result(
            name,
            FAIL,
            f"HTTP {response.status_code}: the deployment does not serve this static file",
            "run python manage.py collectstatic on the server, and check that the proxy's static location "
            "(e.g. location /static/ { alias STATIC_ROOT/; }) points at STATIC_ROOT",
            sent=sent,
        )
    caching = cache_lifetime(response.headers)
    served_by = response.headers.get(SERVED_BY_HEADER)
    fingerprint = django_fingerprint(response.headers, seen.root.headers if seen.root is not None else None)
    proxy_hint = (
        "serve STATIC_ROOT from the proxy: location /static/ { alias /path/to/staticfiles/; expires 1h; } "
        "(tandem serve --mode split and tandem export nginx do this)"
    )
    if served_by and fingerprint:
        return Result(
            name,
            FAIL,
            f"served by Django through its middleware (it carries {', '.join(fingerprint)})",
            proxy_hint,
            sent=sent,
        )
    if served_by and seen.proxy_evidence:
        return Result(
            name,
            FAIL,
            f"the proxy passes static files to the app server ({served_by}) instead of serving them",
            proxy_hint,
            sent=sent,
        )
    if fingerprint and not target.token:
        return Result(
            name,
            WARN,
            f"looks served by Django: it carries the same {', '.join(fingerprint)} as Django's pages",
            proxy_hint + "; --token makes this check certain",
            sent=sent,
        )
    if caching is None:
        return Result(
            name,
            FAIL,
            f"no caching headers (Cache-Control: {response.headers.get('cache-control', 'none')})",
            "add expires 1h; (or Cache-Control max-age) to the proxy's static location",
            sent=sent,
        )
    if served_by:
        return Result(
            name,
            PASS,
            f"served by the app server's static handler, no proxy in front; {caching}",
            sent=sent,
        )
    who = "not by the app server" if target.token else "not by Django (no Django middleware headers)"
    return Result(name, PASS, f"{who}; {caching}", sent=sent)


def page_asset(seen: Observed) -> str | None:
    """A static asset the root page links to: what a browser would fetch next."""
    root = seen.root
    if root is None or root.status_code != 200 or "html" not in root.headers.get("content-type", ""):
        return None
    return pick_from_page(root.text)
