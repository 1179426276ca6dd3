"""nginx configuration, rendered from a ProxySpec that the split topology builds.

The same renderer serves ``tandem serve --mode split`` (managed: a whole nginx.conf running from the
runtime directory) and ``tandem export nginx`` (production: a server block for conf.d).
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache

import jinja2

from tandem import __version__
from tandem.errors import ConfigError
from tandem.plan import File, ProxySpec

# Characters nginx cannot carry safely inside a quoted string: "$" starts a variable in most directives
# and there is no escape for it; control characters end or corrupt the directive.
_UNQUOTABLE = re.compile(r"[$\x00-\x1f\x7f]")


def unquotable(value: str) -> str | None:
    """Why ``value`` cannot be one quoted nginx token, or None when it can."""
    bad = _UNQUOTABLE.search(value)
    if bad is None:
        return None
    if bad.group() == "$":
        return "'$' (nginx reads it as a variable and has no escape for it)"
    return f"the control character {bad.group()!r}"


def nginx_quote(value: str) -> str:
    """Quote a value as one nginx token: spaces, quotes, ``;``, ``{``, ``#`` cannot break out.

    The one quoting path: every string the template takes from the project, the command line or the
    environment goes through it (tests/unit/test_nginx_quoting.py holds the template to that). nginx
    unescapes ``\\"``, ``\\'`` and ``\\\\`` in a token (and turns ``\\n``, ``\\t``, ``\\r`` into control
    characters), so escaping every backslash keeps each one literal.
    """
    why = unquotable(value)
    if why:
        raise ConfigError(f"cannot put {value!r} in an nginx config: it contains {why}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nginx_literal(what: str, value: str, hint: str | None = None) -> str:
    """``value`` unchanged when ``nginx_quote`` can carry it; otherwise a refusal naming where the value
    came from (``what``: an option or a setting), before anything is rendered, written or started."""
    why = unquotable(value)
    if why:
        raise ConfigError(
            f"{what} {value!r} cannot go into nginx's config: it contains {why}",
            hint=hint or f"choose a {what} without it",
        )
    return value


# What may stand in the config unquoted: numbers, sizes, addresses ("[::1]:8000"), identifiers.
_BARE = re.compile(r"[A-Za-z0-9_.:\[\]-]+")


def nginx_bare(value: object) -> str:
    """A value tandem computed (a port, a size, an address it bound) that stays an unquoted token, as
    nginx's own docs write it; anything that could end or split the directive is refused."""
    text = str(value)
    if isinstance(value, bool) or not _BARE.fullmatch(text):
        raise ConfigError(f"cannot put {text!r} unquoted in an nginx config")
    return text


_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def nginx_comment(text: str) -> str:
    """Text for a ``#`` comment line: a newline in it (say, from a route pattern) would end the comment
    and make the rest of the text a directive."""
    return _CONTROL.sub("?", text)


def nginx_log_format(text: str) -> str:
    """A ``log_format`` string: single-quoted, so its ``$variables`` expand and JSON's double quotes stay
    literal. Only tandem's own formats come here; a quote or control character would end the string."""
    if "'" in text or "\\" in text or _CONTROL.search(text):
        raise ConfigError(f"cannot put {text!r} in an nginx log_format")
    return "'" + text + "'"


def proxy_cidr(value: str) -> str:
    """A --trusted-proxy value as a network both proxies read unquoted (``10.0.0.0/8``, ``::1/128``);
    anything that is not an address or a network is refused."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ConfigError(
            f"--trusted-proxy {value!r} is not an address or a CIDR such as 10.0.0.0/8"
        ) from None


def nginx_name(text: str) -> str:
    """An nginx identifier (upstream name, variable name) derived from ``text``."""
    return _NOT_IDENTIFIER.sub("_", text).strip("_").lower() or "tandem"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.proxies", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # nginx config, not HTML; values are quoted with nginx_quote
    )
    env.globals["q"] = nginx_quote
    env.filters["q"] = nginx_quote
    env.globals["comment"] = nginx_comment
    env.globals["bare"] = nginx_bare
    env.globals["cidr"] = proxy_cidr
    env.globals["log_format"] = nginx_log_format
    env.globals["version"] = __version__
    static_globals(env)
    return env


def static_globals(env: jinja2.Environment) -> None:
    """tandem's own constants both proxy templates write: caching of static files, the unavailable page."""
    from tandem import staticheaders
    from tandem.proxies.pages import RETRY_AFTER, UNAVAILABLE_PAGE

    env.globals.update(
        # A regex both config languages carry unquoted-as-written (its "$" is the end anchor, which
        # nginx's quoting refuses as a variable): tandem's constant, never a value from the project.
        hashed_name=staticheaders.HASHED_NAME,
        immutable_cache=staticheaders.IMMUTABLE,
        short_cache=staticheaders.SHORT,
        unavailable_page=UNAVAILABLE_PAGE,
        retry_after=RETRY_AFTER,
    )


def render_nginx(spec: ProxySpec, path: str = "nginx.conf") -> File:
    content = _environment().get_template("nginx.conf.j2").render(spec=spec)
    # Collapse the blank lines the template's conditionals leave behind.
    content = re.sub(r"\n{3,}", "\n\n", content)
    return File(path=path, content=content)
