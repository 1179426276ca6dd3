"""Caddy configuration (a Caddyfile), rendered from the same ProxySpec as nginx's.

The same renderer serves ``tandem serve --mode split --proxy caddy`` (managed: a whole Caddyfile running
from the runtime directory, its admin API on a unix socket there) and ``tandem export caddy`` (production:
a Caddyfile with automatic HTTPS when given ``--public-url https://HOST``).

One quoting path, as for nginx: every string the template takes from the project, the command line or the
environment goes through ``caddy_quote`` (tests/unit/test_caddy_render.py holds the template to that).
"""

from __future__ import annotations

import re
from functools import cache

import jinja2

from tandem import __version__
from tandem.errors import ConfigError
from tandem.plan import File, ProxySpec
from tandem.proxies.nginx import proxy_cidr, static_globals
from tandem.sizes import size_bytes

# What no Caddyfile token can carry literally:
# - "{" and "}": Caddy expands {placeholders} at run time in paths, header values and upstreams, and
#   {$ENV} while parsing, even inside quotes; its escape for them is not honoured everywhere.
# - "\\": inside quotes Caddy keeps a backslash literally except before a quote, so a value ending in one
#   (or holding one before a quote) would end the token elsewhere than it seems.
# - control characters: a newline ends the directive.
_UNQUOTABLE = re.compile(r"[{}\\\x00-\x1f\x7f]")


def unquotable(value: str) -> str | None:
    """Why ``value`` cannot be one quoted Caddyfile token, or None when it can."""
    bad = _UNQUOTABLE.search(value)
    if bad is None:
        return None
    char = bad.group()
    if char in "{}":
        return f"{char!r} (Caddy reads braces as a placeholder, even inside quotes)"
    if char == "\\":
        return "a backslash (a Caddyfile cannot carry one literally in every position)"
    return f"the control character {char!r}"


def caddy_quote(value: str) -> str:
    """Quote a value as one Caddyfile token: spaces, "#", quotes and "}" of a block cannot break out.

    Inside double quotes Caddy's lexer unescapes only ``\\"``; what it cannot carry is refused."""
    why = unquotable(value)
    if why:
        raise ConfigError(f"cannot put {value!r} in a Caddy config: it contains {why}")
    return '"' + value.replace('"', '\\"') + '"'


def caddy_literal(what: str, value: str, hint: str | None = None) -> str:
    """``value`` unchanged when ``caddy_quote`` can carry it; otherwise a refusal naming where it came from."""
    why = unquotable(value)
    if why:
        raise ConfigError(
            f"{what} {value!r} cannot go into Caddy's config: it contains {why}",
            hint=hint or f"choose a {what} without it",
        )
    return value


# What may stand unquoted: numbers, durations, sizes, addresses tandem computed.
_BARE = re.compile(r"[A-Za-z0-9_.:\[\]/-]+")


def caddy_bare(value: object) -> str:
    """A value tandem computed (a port, a duration, a descriptor number) that stays an unquoted token."""
    text = str(value)
    if isinstance(value, bool) or not _BARE.fullmatch(text):
        raise ConfigError(f"cannot put {text!r} unquoted in a Caddy config")
    return text


_PATH_SPECIALS = re.compile(r"[*%]")


def caddy_path_prefix(prefix: str) -> str:
    """A path matcher answering ``prefix`` and everything below it, as nginx's ``location ^~ prefix``.

    ``*`` is Caddy's wildcard and ``%`` switches its matcher to escaped paths: a prefix holding either would
    match something else than it says, so it is refused."""
    if _PATH_SPECIALS.search(prefix):
        raise ConfigError(f"cannot route the prefix {prefix!r} with Caddy: '*' and '%' are matcher syntax")
    return caddy_quote(prefix + "*")


def caddy_upstream(address: str) -> str:
    """An upstream in nginx's spelling ("unix:/run/x.sock", "127.0.0.1:8001") as Caddy's dial address."""
    return caddy_quote("unix/" + address[len("unix:") :] if address.startswith("unix:") else address)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def caddy_comment(text: str) -> str:
    """Text for a ``#`` comment line: a newline in it would make the rest a directive."""
    return _CONTROL.sub("?", text)


def caddy_duration(seconds: float) -> str:
    return caddy_bare(f"{int(seconds)}s")


def forwarded_proto(spec: ProxySpec) -> str:
    """The scheme the app servers are told: the connection's own ({scheme}), or a fixed one."""
    return "{scheme}" if spec.forwarded_proto == "$scheme" else caddy_quote(spec.forwarded_proto)


def stream_close_delay(spec: ProxySpec) -> int:
    """How long a WebSocket proxied under the old config stays open after a config reload: longer than a
    reload takes (new Daphne processes answer, each old one drains within the graceful timeout), which
    itself closes each socket with 1012 as its Daphne retires; Caddy's default would cut them at once."""
    return max(60, int(spec.graceful_timeout * 2))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.proxies", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # a Caddyfile, not HTML; values are quoted with caddy_quote
    )
    env.globals.update(
        q=caddy_quote,
        bare=caddy_bare,
        comment=caddy_comment,
        path_prefix=caddy_path_prefix,
        upstream=caddy_upstream,
        duration=caddy_duration,
        forwarded_proto=forwarded_proto,
        stream_close_delay=stream_close_delay,
        version=__version__,
    )
    env.filters["q"] = caddy_quote
    env.filters["cidr"] = proxy_cidr
    static_globals(env)
    return env


def site_address(spec: ProxySpec) -> str:
    """Managed: plain HTTP on the socket tandem bound (any Host, like nginx's server_name _). Exported: the
    --public-url's host (Caddy's automatic HTTPS for an https:// URL), else every host on the port."""
    if spec.managed:
        port = spec.listen.rpartition(":")[2]
        return caddy_bare(f"{'https' if spec.tls_cert else 'http'}://:{port}")
    if spec.public_url:
        scheme, _, rest = spec.public_url.partition("://")
        host = rest.split("/", 1)[0]
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?", host):
            raise ConfigError(f"--public-url {spec.public_url!r} has no host name Caddy can serve")
        return caddy_bare(host if scheme == "https" else f"http://{host}")
    return caddy_bare(f"http://:{spec.listen}")


def reindent(content: str) -> str:
    """Tabs by block depth, as ``caddy fmt`` writes them (Caddy warns about a Caddyfile that is not): a
    block opens with a line ending in " {" and closes with a line holding only "}"."""
    lines, depth = [], 0
    for raw in content.splitlines():
        line = raw.strip()
        if line == "}":
            depth -= 1
        lines.append("\t" * depth + line if line else "")
        if line == "{" or line.endswith(" {"):
            depth += 1
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines) + "\n")
    return re.sub(r"\n\n+(\t*\})", r"\n\1", re.sub(r"\{\n\n+", "{\n", text))


def export_flags(spec: ProxySpec) -> str:
    """The --mode and --proxy that give this site's Plan again (tandem.exporters.common.topology_flags):
    without --mode unified, a command the Caddyfile suggests would render split mode's site instead."""
    return f"--mode {'unified' if spec.asgi_only else 'split'} --proxy caddy"


def render_caddy(spec: ProxySpec, path: str = "Caddyfile") -> File:
    content = (
        _environment()
        .get_template("Caddyfile.j2")
        .render(
            spec=spec,
            site=site_address(spec),
            body_size=size_bytes(spec.max_body_size),
            export_flags=export_flags(spec),
        )
    )
    return File(path=path, content=reindent(content))
