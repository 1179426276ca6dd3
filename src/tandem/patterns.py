"""Literal URL prefixes of single Django route patterns (``path()`` strings and ``re_path()`` regexes).

Pure functions. A prefix is correct when every path the pattern can match starts with it (the proxy routes
by prefix), so anything that cannot be read literally ends it.
"""

from __future__ import annotations

from dataclasses import dataclass

_REGEX_META = frozenset(".^$*+?{}[]|()\\")
_OPTIONAL_QUANTIFIERS = frozenset("*?{")  # the preceding atom may be absent


@dataclass(frozen=True)
class _Literal:
    text: str  # the literal text every match starts with (no "/" added)
    whole: bool  # the pattern is exactly that text (anchors aside), so a nested pattern may extend it
    ends_anchored: bool  # a regex ending in "$" or "\Z"


def scan(pattern: str, *, regex: bool) -> _Literal:
    if not regex:
        # path(): everything before the first converter is literal (Django escapes it).
        cut = pattern.find("<")
        return _Literal(pattern, True, False) if cut < 0 else _Literal(pattern[:cut], False, False)
    branches = _top_level_branches(pattern)
    if len(branches) > 1:
        texts = [_scan_branch(branch).text for branch in branches]
        return _Literal(_common_prefix(texts), False, False)
    return _scan_branch(pattern)


def _common_prefix(texts: list[str]) -> str:
    shortest = min(texts, key=len)
    for i, char in enumerate(shortest):
        if any(text[i] != char for text in texts):
            return shortest[:i]
    return shortest


def _top_level_branches(regex: str) -> list[str]:
    """Split on "|" outside groups and character classes."""
    branches: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex.startswith("]", i + 1) or regex.startswith("^]", i + 1):
                i += 1 if regex[i + 1] == "]" else 2  # a leading "]" is a member, not the end
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(regex[start:i])
            start = i + 1
        i += 1
    branches.append(regex[start:])
    return branches


def _scan_branch(regex: str) -> _Literal:
    i = 1 if regex.startswith("^") else 2 if regex.startswith("\\A") else 0
    out: list[str] = []
    while i < len(regex):
        char, width = regex[i], 1
        if char == "\\":
            escaped = regex[i + 1 : i + 2]
            if escaped == "Z" and i + 2 == len(regex):
                return _Literal("".join(out), True, True)
            if not escaped or (escaped.isascii() and escaped.isalnum()):
                break  # \d, \w, \b, back-references, ...: not literal text
            char, width = escaped, 2
        elif char == "$" and i + 1 == len(regex):
            return _Literal("".join(out), True, True)
        elif char in _REGEX_META:
            break
        following = regex[i + width : i + width + 1]
        if following and following in _OPTIONAL_QUANTIFIERS:
            break  # "ws/?" : the "/" may be absent, so it is not part of the prefix
        out.append(char)
        i += width
        if following == "+":
            break  # at least one: the character is in, the repetition is not
    else:
        return _Literal("".join(out), True, False)
    return _Literal("".join(out), False, False)


def literal_prefix(pattern: str, *, regex: bool) -> str:
    """The literal URL prefix every path matching ``pattern`` starts with, beginning with "/".

    ``regex=False`` reads a ``path()`` route, ``regex=True`` a ``re_path()`` regex. The regex is read as
    anchored at the start (a leading "^" or "\\A" is dropped); ``discover_routes`` warns about patterns
    Django would match anywhere in the path. Escaped punctuation is literal; any other metacharacter ends
    the prefix, and a character made optional by "?", "*" or "{" is left out. With top-level alternation
    the prefix is the branches' common prefix. The result may end mid-segment (``/ws/ch``): that is still
    a correct prefix match. Leading slashes in the pattern are folded into the one "/".
    """
    return "/" + scan(pattern, regex=regex).text.lstrip("/")
