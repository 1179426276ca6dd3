"""nginx's config syntax read back the way nginx reads it (ngx_conf_read_token in src/core/ngx_conf_file.c),
so a test can compare the directives nginx will see with the values tandem meant to write.

- Tokens are separated by space, tab, CR and LF; ``;`` ends a directive, ``{`` opens its block, ``}``
  closes one.
- A ``"`` or ``'`` starts a quoted token only at the start of a token, and the closing quote must be
  followed by whitespace, ``;`` or ``{``. Inside a word (quoted or not) a backslash escapes the next
  character; afterwards ``\\"``, ``\\'`` and ``\\\\`` become the character, ``\\n``, ``\\r`` and ``\\t``
  become control characters, and any other ``\\x`` stays as both characters.
- ``#`` starts a comment only at the start of a token; inside an unquoted word ``#``, ``}`` and quotes are
  ordinary characters.
"""

from __future__ import annotations

from dataclasses import dataclass

SPACE = " \t\r\n"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None = None  # None: a simple directive ending with ";"


def _unescape(raw: str) -> str:
    out = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        out.append(raw[i])
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[tuple[str, str]]:
    """("word", value) and (";" | "{" | "}", same) tokens."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in SPACE:
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch in ";{}":
            tokens.append((ch, ch))
            i += 1
        elif ch in "\"'":
            start = i = i + 1
            while True:
                if i >= n:
                    raise ParseError(f"unterminated quoted string from offset {start - 1}")
                if text[i] == "\\":
                    i += 2
                    continue
                if text[i] == ch:
                    break
                i += 1
            tokens.append(("word", _unescape(text[start:i])))
            i += 1
            if i < n and text[i] not in SPACE + ";{":
                raise ParseError(f"unexpected {text[i]!r} after a quoted string at offset {i}")
        else:
            start = i
            while i < n and text[i] not in SPACE + ";{":
                i += 2 if text[i] == "\\" else 1
            tokens.append(("word", _unescape(text[start:i])))
    return tokens


def parse(text: str) -> tuple[Directive, ...]:
    """The directive tree of a config (or of a server block meant for include)."""
    stack: list[tuple[list[str], list[Directive]]] = [([], [])]
    args: list[str] = []
    for kind, value in tokenize(text):
        if kind == "word":
            args.append(value)
        elif kind == ";":
            if not args:
                raise ParseError('unexpected ";"')
            stack[-1][1].append(Directive(args[0], tuple(args[1:])))
            args = []
        elif kind == "{":
            if not args:
                raise ParseError('unexpected "{"')
            stack.append((args, []))
            args = []
        else:
            if args or len(stack) == 1:
                raise ParseError('unexpected "}"')
            header, children = stack.pop()
            stack[-1][1].append(Directive(header[0], tuple(header[1:]), tuple(children)))
    if args or len(stack) != 1:
        raise ParseError("unexpected end of file")
    return tuple(stack[0][1])


def substitute(tree: tuple[Directive, ...], old: str, new: str) -> tuple[Directive, ...]:
    """``tree`` with ``old`` replaced by ``new`` in every argument: what a render with ``new`` must parse to,
    when ``old`` is a placeholder rendered in its place."""
    return tuple(
        Directive(
            d.name,
            tuple(arg.replace(old, new) for arg in d.args),
            None if d.block is None else substitute(d.block, old, new),
        )
        for d in tree
    )


def find(tree: tuple[Directive, ...], name: str) -> list[Directive]:
    """Every directive called ``name``, at any depth."""
    found = []
    for d in tree:
        if d.name == name:
            found.append(d)
        if d.block is not None:
            found.extend(find(d.block, name))
    return found
