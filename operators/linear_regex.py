r"""Python regular expressions run by RE2, in time linear in the text whatever the pattern.

Python's ``re`` backtracks: ``[\w.]+@\w+`` against ``"a" * 30000`` costs
seconds. RE2 (Cox 2007-2010, "Regular Expression Matching Can Be Simple And
Fast") simulates the automaton instead and never backtracks. Its syntax is
close to Python's but not the same, so a pattern is parsed with Python's own
parser and written back out for RE2, keeping Python's meaning:

- ``\d``, ``\w``, ``\s`` are Unicode classes as in Python (``\p{Nd}``, letters
  and numbers and ``_``, Unicode white space), ASCII under ``(?a)``.
- A one-character lookbehind at the start (``(?<![\d-])``) or lookahead at the
  end (``(?!\d)``) becomes a consumed character (or the text's edge) around
  a capturing group; the reported match is the group, as in Python.

What RE2 cannot do is rejected with a :class:`ValueError` that names the
construct: other lookarounds, back-references, conditionals, atomic groups and
possessive quantifiers. Remaining differences from ``re``: ``\b`` and ``\B``
see only ASCII letters and digits as word characters; ``$`` without
``(?m)`` matches only at the very end (not before a final newline);
case-insensitive matching uses Unicode simple case folding; lone surrogates in
the text are matched as ``?``.

:class:`LinearPattern` searches UTF-8 bytes (encode once, search many times)
and :class:`Utf8Offsets` turns byte offsets back into character offsets in one
forward pass, so a scan with many matches stays linear.

Examples
--------
>>> card = LinearPattern(r"(?<![\d-])(?:\d[ \-]?){12,18}\d(?!\d)")
>>> text = "card 4111 1111 1111 1111, not 41111111111111111111"
>>> encoded = encode(text)
>>> [(s, e) for s, e in card.finditer(encoded, 0)]
[(5, 24)]
>>> LinearPattern(r"(\w)\1")
Traceback (most recent call last):
...
ValueError: back-references are not supported by the linear-time engine
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Iterator
from typing import Any

import re2

# The compiled RE2 object's own Match: it skips the wrapper's per-call str handling and
# match object (half the cost of a search), since the text is already UTF-8 bytes.
_UNANCHORED = re2._Anchor.UNANCHORED
_SINGLE_CHARACTER = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)
_UNSUPPORTED = {
    sre.GROUPREF: "back-references",
    sre.GROUPREF_EXISTS: "conditional groups",
    sre.ATOMIC_GROUP: "atomic groups",
    sre.POSSESSIVE_REPEAT: "possessive quantifiers",
}
# Python's str.isspace(): ASCII \t..\r, the information separators, NEL and Unicode Z*.
_UNICODE_SPACE = r"\t-\r\x{1c}-\x{1f}\x{85}\p{Z}"
_UNICODE_WORD = r"\p{L}\p{N}_"


def encode(text: str) -> bytes:
    """Encode ``text`` as UTF-8 for :meth:`LinearPattern.finditer`, one byte per lone surrogate.

    Examples
    --------
    >>> encode("a" + chr(0xD800) + "b")
    b'a?b'
    """
    return text.encode("utf-8", "replace")


def _char(code: int) -> str:
    c = chr(code)
    return c if c.isascii() and c.isalnum() else f"\\x{{{code:x}}}"


class _Writer:
    """Writes a parsed Python pattern back out in RE2 syntax."""

    def __init__(self, flags: int) -> None:
        self.ascii = bool(flags & re.ASCII)

    def category(self, name: Any, in_set: bool) -> str:
        positive = {
            sre.CATEGORY_DIGIT: "0-9" if self.ascii else r"\p{Nd}",
            sre.CATEGORY_WORD: "0-9A-Za-z_" if self.ascii else _UNICODE_WORD,
            sre.CATEGORY_SPACE: r"\t-\r " if self.ascii else _UNICODE_SPACE,
        }
        negated = {
            sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
            sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
            sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
        }
        if name in positive:
            return positive[name] if in_set else f"[{positive[name]}]"
        if name in negated and not in_set:
            return f"[^{positive[negated[name]]}]"
        raise ValueError(
            r"\D, \W and \S inside a character class are not supported by the linear-time "
            r"engine (write the class out, e.g. [^\d] for \D)"
        )

    def charset(self, items: list[tuple[Any, Any]], negate: bool = False) -> str:
        parts = []
        for op, av in items:
            if op is sre.NEGATE:
                negate = not negate
            elif op is sre.LITERAL:
                parts.append(_char(av))
            elif op is sre.RANGE:
                parts.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is sre.CATEGORY:
                if av in (sre.CATEGORY_NOT_DIGIT, sre.CATEGORY_NOT_WORD, sre.CATEGORY_NOT_SPACE) \
                        and len(items) == 1:
                    negate = not negate
                    av = {sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
                          sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
                          sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE}[av]
                parts.append(self.category(av, in_set=True))
            else:
                raise ValueError(f"character class item {op} is not supported")
        return f"[{'^' if negate else ''}{''.join(parts)}]"

    def single(self, op: Any, av: Any, negate: bool, dotall: bool) -> str:
        """One character (or, with ``negate``, any other character)."""
        if op is sre.LITERAL:
            return f"[^{_char(av)}]" if negate else _char(av)
        if op is sre.NOT_LITERAL:
            return _char(av) if negate else f"[^{_char(av)}]"
        if op is sre.IN:
            return self.charset(av, negate)
        if negate:  # not any character: a newline, unless . matches newlines too
            return r"[^\x00-\x{10ffff}]" if dotall else r"\n"
        return "(?s:.)" if dotall else "(?-s:.)"

    def sequence(self, items: Any, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: Any, av: Any, flags: int) -> str:
        dotall = bool(flags & re.DOTALL)
        multiline = bool(flags & re.MULTILINE)
        if op in _UNSUPPORTED:
            raise ValueError(f"{_UNSUPPORTED[op]} are not supported by the linear-time engine")
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            raise ValueError(
                "lookarounds are supported by the linear-time engine only as one character "
                "looked behind at the start of the pattern or ahead at its end"
            )
        if op in _SINGLE_CHARACTER:
            return self.single(op, av, negate=False, dotall=dotall)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.sequence(b, flags) for b in av[1]) + ")"
        if op is sre.SUBPATTERN:
            _group, add, remove, body = av
            inner = (flags | add) & ~remove
            letters = ((re.IGNORECASE, "i"), (re.DOTALL, "s"), (re.MULTILINE, "m"))
            on = "".join(letter for flag, letter in letters if inner & flag)
            off = "".join(letter for flag, letter in letters if not inner & flag)
            return f"(?{on}{'-' + off if off else ''}:{self.sequence(body, inner)})"
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = av
            bound = f"{{{low},}}" if high is sre.MAXREPEAT else f"{{{low},{high}}}"
            lazy = "?" if op is sre.MIN_REPEAT else ""
            return f"(?:{self.sequence(body, flags)}){bound}{lazy}"
        if op is sre.AT:
            return {
                sre.AT_BEGINNING: r"(?m:^)" if multiline else r"\A",
                sre.AT_BEGINNING_STRING: r"\A",
                sre.AT_END: r"(?m:$)" if multiline else r"\z",
                sre.AT_END_STRING: r"\z",
                sre.AT_BOUNDARY: r"\b",
                sre.AT_NON_BOUNDARY: r"\B",
            }[av]
        raise ValueError(f"{op} is not supported by the linear-time engine")


def _edge_lookaround(item: tuple[Any, Any], behind: bool) -> tuple[bool, Any] | None:
    """``(negative, (op, av))`` when ``item`` is a one-character lookbehind/lookahead."""
    op, av = item
    if op not in (sre.ASSERT, sre.ASSERT_NOT):
        return None
    direction, body = av
    if (direction < 0) != behind or len(body) != 1 or body[0][0] not in _SINGLE_CHARACTER:
        return None
    return op is sre.ASSERT_NOT, body[0]


def translate(
    pattern: str, ignore_case: bool = False, from_text_start: bool = True
) -> tuple[str, bool]:
    r"""Write a Python pattern in RE2 syntax.

    Returns the RE2 source, whose group 1 is the Python match, and whether it
    consumes one character before that group (a lookbehind). With
    ``from_text_start`` false, a negative lookbehind needs a character (for
    searches that start one character before the position asked).

    Examples
    --------
    >>> translate(r"(?<!\d)\d{3}(?!\d)")
    ('(?:\\A|[^\\p{Nd}])((?:[\\p{Nd}]){3,3})(?:[^\\p{Nd}]|\\z)', True)
    """
    flags = re.IGNORECASE if ignore_case else 0
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as exc:
        raise ValueError(str(exc)) from exc
    flags = parsed.state.flags
    writer = _Writer(flags)
    dotall = bool(flags & re.DOTALL)
    items = list(parsed)
    prefix = suffix = ""
    behind = _edge_lookaround(items[0], behind=True) if items else None
    if behind is not None:
        negative, (op, av) = behind
        one = writer.single(op, av, negate=negative, dotall=dotall)
        prefix = f"(?:\\A|{one})" if negative and from_text_start else one
        items = items[1:]
    ahead = _edge_lookaround(items[-1], behind=False) if items else None
    if ahead is not None:
        negative, (op, av) = ahead
        one = writer.single(op, av, negate=negative, dotall=dotall)
        suffix = f"(?:{one}|\\z)" if negative else one
        items = items[:-1]
    body = writer.sequence(items, flags)
    source = f"{prefix}({body}){suffix}"
    if flags & re.IGNORECASE:
        source = f"(?i){source}"
    return source, bool(prefix)


def _back_one_character(encoded: bytes, pos: int) -> int:
    pos -= 1
    while pos > 0 and 0x80 <= encoded[pos] < 0xC0:  # UTF-8 continuation bytes
        pos -= 1
    return pos


class LinearPattern:
    r"""A Python regular expression compiled for RE2: linear-time search.

    Parameters
    ----------
    pattern
        The Python regular expression.
    ignore_case
        Match case-insensitively.

    Raises
    ------
    ValueError
        When the pattern is invalid or uses a construct RE2 cannot run
        (the message names it).

    Examples
    --------
    >>> email = LinearPattern(r"[\w.]+@\w+\.[a-z]{2,}")
    >>> list(email.finditer(encode("to bob@ex.org or a@b.cc"), 0))
    [(3, 13), (17, 23)]
    """

    def __init__(self, pattern: str, ignore_case: bool = False) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        self.source, self._looks_behind = translate(pattern, ignore_case)
        try:
            self._compiled = re2.compile(self.source)
            # Searching from one character before pos, the text's start is not a match start.
            self._after_start = re2.compile(translate(pattern, ignore_case, False)[0])
        except re2.error as exc:
            raise ValueError(f"the linear-time engine cannot compile it: {exc}") from exc

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern!r}, ignore_case={self.ignore_case})"

    def __reduce__(self) -> tuple[type[LinearPattern], tuple[str, bool]]:
        return LinearPattern, (self.pattern, self.ignore_case)

    def search(self, encoded: bytes, pos: int) -> tuple[int, int] | None:
        r"""Return the byte span of the first match starting at or after byte ``pos``, or ``None``.

        As with Python's ``pattern.search(text, pos)``, the text before
        ``pos`` still counts for a lookbehind and ``\A``/``\b``.
        """
        compiled = self._compiled
        start = pos
        if self._looks_behind and pos > 0:
            start, compiled = _back_one_character(encoded, pos), self._after_start
        spans = compiled._regexp.Match(_UNANCHORED, encoded, start, len(encoded))
        span: tuple[int, int] = spans[1]
        return None if spans[0][0] < 0 else span

    def finditer(self, encoded: bytes, pos: int) -> Iterator[tuple[int, int]]:
        """Yield the byte spans of non-overlapping matches from byte ``pos``, like ``re.finditer``.

        After an empty match the search goes on one character later.
        """
        end_of_text = len(encoded)
        first, after_start = self._compiled._regexp.Match, self._after_start._regexp.Match
        looks_behind = self._looks_behind
        while pos <= end_of_text:
            # search(), inlined: a delta full of near-misses makes thousands of calls.
            if looks_behind and pos > 0:
                spans = after_start(_UNANCHORED, encoded, _back_one_character(encoded, pos),
                                    end_of_text)
            else:
                spans = first(_UNANCHORED, encoded, pos, end_of_text)
            if spans[0][0] < 0:
                return
            start, end = spans[1]
            yield start, end
            if end > start:
                pos = end
            elif end >= end_of_text:
                return
            else:
                pos = end + 1
                while pos < end_of_text and 0x80 <= encoded[pos] < 0xC0:
                    pos += 1


class Utf8Offsets:
    """Character offsets of byte offsets in UTF-8 text, in one forward pass.

    Offsets asked in non-decreasing order cost, in all, one pass over the
    bytes; an offset behind the last one asked restarts from the nearer end.

    Examples
    --------
    >>> offsets = Utf8Offsets("né ok", encode("né ok"))
    >>> offsets.char(3), offsets.char(6)
    (2, 5)
    """

    def __init__(self, text: str, encoded: bytes) -> None:
        self._text_length = len(text)
        self._encoded = encoded
        self._ascii = len(encoded) == len(text)
        self._byte = 0
        self._char = 0

    def char(self, byte: int) -> int:
        """Return the character offset of ``byte`` (a character boundary)."""
        if self._ascii:
            return byte
        encoded = self._encoded
        if byte < self._byte:
            if byte <= len(encoded) - byte:
                self._byte, self._char = 0, 0
            else:
                self._byte = len(encoded)
                self._char = self._text_length - len(encoded[byte:].decode("utf-8"))
                self._byte = byte
                return self._char
        self._char += len(encoded[self._byte:byte].decode("utf-8"))
        self._byte = byte
        return self._char


def byte_offset(text: str, encoded: bytes, char: int) -> int:
    """Return the byte offset in ``encoded`` (``encode(text)``) of character ``char``.

    Costs the distance to the nearer end of the text.

    Examples
    --------
    >>> byte_offset("né ok", encode("né ok"), 2), byte_offset("né ok", encode("né ok"), 5)
    (3, 6)
    """
    if len(encoded) == len(text):
        return char
    if char <= len(text) - char:
        return len(encode(text[:char]))
    return len(encoded) - len(encode(text[char:]))


def repetition_free(pattern: str, ignore_case: bool = False) -> bool:
    r"""Whether ``pattern`` has no quantifier and no back-reference.

    Python's ``re`` runs such a pattern in time linear in the text (each start
    position tries a bounded number of paths), and faster than RE2 on short
    texts, so anchors like ``@`` or ``sk-|AKIA`` can stay on ``re``.

    Examples
    --------
    >>> repetition_free(r"sk-|AKIA|\d"), repetition_free(r"\d+")
    (True, False)
    """
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(str(exc)) from exc
    return _repetition_free(list(parsed))


def _repetition_free(items: list[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) or op in _UNSUPPORTED:
            return False
        if op is sre.BRANCH and not all(_repetition_free(list(b)) for b in av[1]):
            return False
        if op is sre.SUBPATTERN and not _repetition_free(list(av[3])):
            return False
        if op in (sre.ASSERT, sre.ASSERT_NOT) and not _repetition_free(list(av[1])):
            return False
    return True
