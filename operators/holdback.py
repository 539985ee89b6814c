r"""The minimal suffix of a stream's text to hold back so that redactions can still happen.

A gateway that redacts mid-stream must not release a character that could turn
out to belong to a redaction match, yet every character it holds is latency for
the user. :class:`HoldBack` finds, for the text not yet released, the earliest
position where a redaction match starts: a complete match (waiting for its
redaction), or a *partial* one that more text could still complete (``jane.doe@``
could become an email). Everything before that position is safe to release now.

Linear time, whatever the text (a gateway's event loop serves every client):

* **Complete matches** are found with RE2 (``google-re2``), a linear-time engine.
  A rule's leading look-behind and trailing look-ahead of one character (the
  bundled card and phone rules have them) are rewritten into a consumed
  character around a named group; ``\d`` and ``\w`` become Unicode classes
  as in Python (``\b`` stays ASCII in RE2). A pattern RE2 cannot run (back-references, other
  look-arounds) falls back to the ``regex`` package, which backtracks: its
  rule is logged as not linear-time by the caller that builds the hold-back.
* **Partial matches** must reach the end of the text, and no match is longer
  than its rule's ``max_span``: only the last ``max_span`` characters are
  searched, with the ``regex`` package's partial matching of ``pattern\Z``
  (a path that runs into the end of the text). That costs at most
  ``O(max_span²)`` per call, independent of the text's length. A match longer
  than its rule's ``max_span`` is outside the contract, as it is for the job's
  detectors (:mod:`midstream.operators.text_rules`).

* **Bounded work per call**, whatever a single delta holds (up to the 64 KB
  limit, a delta may hold tens of thousands of candidates, each costing a
  search and a validator check in Python): :meth:`HoldBack.hold_from` checks
  at most :data:`MAX_FAILED_CHECKS` candidates failing their validator per
  rule and holds from the next one, and :meth:`HoldBack.matches` reports at
  most 32 matches per rule one by one, the next one running to the text's end
  (as the job's detectors do). A flood is held or redacted, never released
  unchecked.

Phrases are matched case-insensitively with the same folding as the detectors
(:func:`midstream.operators.text_rules.fold`).

Examples
--------
>>> from midstream.operators.text_rules import Rule
>>> email = Rule("email", category="pii", action="redact", max_span=254,
...              pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
>>> hold = HoldBack([email])
>>> text = "Write to jane.doe@exa"
>>> text[:hold.hold_from(text)]              # 'jane.doe@exa' could still become an email
'Write to '
>>> hold.hold_from("Write to me. ") == len("Write to me. ")   # nothing to hold
True
>>> hold.matches("mail jane@example.com now")
[(5, 21, 'email')]
>>> hold.extent("mail jane@example.com-univ", 5)   # the match may still grow
(21, True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import re2
import regex

from midstream.operators.text_rules import MAX_MATCHES_PER_DELTA, VALIDATORS, Rule, fold

MAX_FAILED_CHECKS = 256
"""Candidates of one pattern failing their validator that one call checks; the next is held."""

# One character class or escape, as a look-around of width one may hold it.
_ONE_CHAR = r"(?:\[(?:\\.|[^\]\\])+\]|\\[dDwWsS]|\\.|[^\\()\[\]|*+?{}.^$])"
_LEADING = re.compile(rf"^\(\?<([!=])({_ONE_CHAR})\)")
_TRAILING = re.compile(rf"\(\?([!=])({_ONE_CHAR})\)$")
_NEGATED_ESCAPE = {r"\d": r"\D", r"\D": r"\d", r"\w": r"\W", r"\W": r"\w", r"\s": r"\S",
                   r"\S": r"\s"}
_CORE = "midstream_core"
_AT_START = "(?:^|"


def _negate(one: str) -> str:
    if one.startswith("[^"):
        return "[" + one[2:]
    if one.startswith("["):
        return "[^" + one[1:]
    if one in _NEGATED_ESCAPE:
        return _NEGATED_ESCAPE[one]
    return f"[^{one}]"


_OUTSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"[\p{L}\p{N}_]", "W": r"[^\p{L}\p{N}_]"}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"\p{L}\p{N}_"}


def _unicode_classes(pattern: str) -> str | None:
    r"""Rewrite ``\d``, ``\D``, ``\w``, ``\W`` (ASCII in RE2) as Python's Unicode classes.

    None when that cannot be said in RE2 (``\W`` inside a character class).
    """
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if e in "dDwW":
                if e not in table:
                    return None
                out.append(table[e])
            else:
                out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "]" and i > class_start:
                in_class = False
        elif c == "[":
            in_class = True
            class_start = i + 1 + (pattern.startswith("^", i + 1))
        out.append(c)
        i += 1
    return "".join(out)


def linear_form(pattern: str, ignore_case: bool = False) -> tuple[str, bool] | None:
    r"""Rewrite a rule's pattern for RE2: ``(regex, has_leading_char)``, or None if RE2 can't run it.

    A leading one-character look-behind becomes ``(?:^|[^X])`` (consumed; the
    caller searches one character early) and a trailing one-character
    look-ahead becomes ``(?:[^X]|\z)``; the rule's own match is the group
    ``midstream_core``.

    Examples
    --------
    >>> linear_form(r"(?<![\d-])\d{3}(?!\d)")
    ('(?s)(?:^|[^\\p{Nd}-])(?P<midstream_core>\\p{Nd}{3})(?:\\P{Nd}|\\z)', True)
    >>> linear_form(r"(a)\1") is None
    True
    """
    core, lead, trail = pattern, "", ""
    if (m := _LEADING.match(core)) is not None:
        kind, one = m.groups()
        lead = f"(?:^|{_negate(one)})" if kind == "!" else one
        core = core[m.end():]
    if (m := _TRAILING.search(core)) is not None and not core[:m.start()].endswith("\\"):
        kind, one = m.groups()
        trail = f"(?:{_negate(one)}|\\z)" if kind == "!" else one
        core = core[:m.start()]
    flags = "(?si)" if ignore_case else "(?s)"
    rewritten = _unicode_classes(f"{flags}{lead}(?P<{_CORE}>{core}){trail}")
    if rewritten is None:
        return None
    try:
        re2.compile(rewritten)
    except re2.error:
        return None
    return rewritten, bool(lead)


class _Pattern:
    """One redacting rule's regular expression, with its linear and its partial forms."""

    def __init__(self, rule: Rule) -> None:
        assert rule.pattern is not None
        flags = regex.IGNORECASE if rule.ignore_case else 0
        self.name = rule.name
        self.span = rule.max_span
        self.validator = VALIDATORS.get(rule.validator) if rule.validator else None
        self.backtracking = regex.compile(rule.pattern, flags)
        self.to_end = regex.compile(f"(?:{rule.pattern})\\Z", flags)
        form = linear_form(rule.pattern, rule.ignore_case)
        self.linear = re2.compile(form[0]) if form is not None else None
        self.lead = form[1] if form is not None else False
        self.core = self.linear.groupindex[_CORE] if self.linear is not None else 0
        # After the text's first character, the look-behind's character must be there:
        # searching one character early, "^" would otherwise let a match start before pos.
        self.inner = self.linear
        if form is not None and self.lead and form[0].startswith(_AT_START, form[0].index(")") + 1):
            self.inner = re2.compile(form[0].replace(_AT_START, "(?:", 1))

    def valid(self, found: str) -> bool:
        return self.validator is None or self.validator(found)

    def first(self, text: str, pos: int) -> tuple[int, int] | None:
        """Return the leftmost-first complete match starting at or after ``pos``, if any."""
        if self.linear is None:
            b = self.backtracking.search(text, pos)
            return None if b is None else b.span()
        # RE2's binding copies (encodes) the text it is given on every call: search a
        # window, doubled until its answer cannot depend on what lies beyond it, so that
        # each call costs what it looks at, and no more.
        pattern = self.linear
        lo = pos
        if self.lead and pos > 0:
            assert self.inner is not None
            pattern, lo = self.inner, pos - 1
        end = len(text)
        width = 2 * self.span + 8
        while True:
            hi = min(end, lo + width)
            m = pattern.search(text[lo:hi])
            if hi == end or (m is not None and lo + m.end() < hi):
                if m is None:
                    return None
                s, e = m.span(self.core)
                return lo + s, lo + e
            width *= 2

    def partial_start(self, text: str, start: int) -> int | None:
        """Earliest start, from ``start``, of a match that more text could complete or extend."""
        end = len(text)
        m = self.to_end.search(text, max(start, end - self.span), partial=True)
        return m.start() if m is not None and m.start() < end else None


class HoldBack:
    """Where to stop releasing a stream's text, given the redaction rules.

    Parameters
    ----------
    rules
        Detection rules; only those whose action is ``redact`` matter.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        redacting = [r for r in rules if r.action == "redact"]
        self._patterns = [_Pattern(r) for r in redacting if r.pattern is not None]
        self._phrases = [(r.name, fold(p)) for r in redacting for p in r.phrases]
        self.span = max([p.span for p in self._patterns] + [len(p) for _, p in self._phrases],
                        default=0)
        """The longest match any redacting rule can make."""

    @property
    def active(self) -> bool:
        """Whether any rule redacts (without one, nothing is ever held)."""
        return bool(self._patterns or self._phrases)

    @property
    def backtracking_rules(self) -> list[str]:
        """Rules whose pattern RE2 cannot run: their complete matches are not linear-time."""
        return [p.name for p in self._patterns if p.linear is None]

    def cursors(self) -> list[int]:
        """Per-stream memory for :meth:`hold_from`: where partial matches may still start."""
        return [0] * len(self._patterns)

    def hold_from(self, text: str, start: int = 0, *, final: bool = False,
                  cursors: list[int] | None = None) -> int:
        """Index from which ``text`` must be held back; ``len(text)`` when none of it must.

        ``text[:start]`` is context already released (look-behinds may need it);
        the answer is never below ``start``. With ``final`` the stream has ended:
        partial matches can no longer complete, so only complete ones are held.

        ``cursors`` (from :meth:`cursors`, one list per stream whose text only
        grows) remembers where partial matches may still start: a position that
        is not the start of a partial match never becomes one, so each is tried
        once rather than on every delta.
        """
        end = len(text)
        hold = end
        for pattern in self._patterns:
            pos, failed = start, 0
            while (first := pattern.first(text, pos)) is not None and first[0] < hold:
                s, e = first
                if (e == end and not final) or failed == MAX_FAILED_CHECKS \
                        or pattern.valid(text[s:e]):
                    # Finished (it waits for its redaction), still growing, or past what
                    # one call checks (a flood of near-misses): held, never released unchecked.
                    hold = s
                    break
                failed += 1
                pos = s + 1  # e.g. a number failing the Luhn check: not PII
            if final:
                continue
            i = self._patterns.index(pattern)
            partial = pattern.partial_start(text, max(start, cursors[i]) if cursors else start)
            if cursors is not None:
                cursors[i] = end if partial is None else partial
            if partial is not None:
                hold = min(hold, partial)
        if self._phrases:
            base = max(0, start - self.span)  # phrases are case-folded: fold only what matters
            folded = fold(text[base:])
            for _, phrase in self._phrases:
                found = folded.find(phrase, start - base)
                if found != -1:
                    hold = min(hold, base + found)
                if final:
                    continue
                # The longest proper prefix of the phrase that the text ends with.
                for k in range(min(len(phrase) - 1, end - start), 0, -1):
                    if folded.endswith(phrase[:k]):
                        hold = min(hold, end - k)
                        break
        return max(hold, start)

    def matches(self, text: str, start: int = 0) -> list[tuple[int, int, str]]:
        """Complete redaction matches in ``text`` as ``(start, end, rule name)``, by start.

        For redacting locally when no decision from the job arrives (fail closed).
        Matches start at ``start`` or later (``text[:start]`` is context), found as
        :meth:`hold_from` finds them. Bounded work per call, as in the job's
        detectors (:data:`~midstream.operators.text_rules.MAX_MATCHES_PER_DELTA`):
        after 32 matches of one rule, or :data:`MAX_FAILED_CHECKS` candidates
        failing its validator, the next candidate is one match running to the
        text's end, so nothing is released unchecked.
        """
        end = len(text)
        found_all: list[tuple[int, int, str]] = []
        for pattern in self._patterns:
            pos, reported, failed = start, 0, 0
            while (first := pattern.first(text, pos)) is not None:
                s, e = first
                if reported == MAX_MATCHES_PER_DELTA or failed == MAX_FAILED_CHECKS:
                    found_all.append((s, end, pattern.name))  # a flood: the rest is one match
                    break
                if pattern.valid(text[s:e]):
                    found_all.append((s, e, pattern.name))
                    reported += 1
                    pos = max(e, s + 1)
                else:
                    failed += 1
                    pos = s + 1  # a failed check may hide a valid match inside it
        if self._phrases:
            folded = fold(text[start:])
            for name, phrase in self._phrases:
                at, reported = folded.find(phrase), 0
                while at != -1:
                    if reported == MAX_MATCHES_PER_DELTA:
                        found_all.append((start + at, end, name))
                        break
                    found_all.append((start + at, start + at + len(phrase), name))
                    reported += 1
                    at = folded.find(phrase, at + 1)
        return sorted(found_all)

    def extent(self, text: str, start: int, *, final: bool = False) -> tuple[int, bool]:
        """How far a redaction match starting at ``start`` reaches: ``(end, may_grow)``.

        ``end`` is the end of the longest complete match starting at ``start``
        (``start`` when none does); ``may_grow`` tells whether more text could
        still make a longer match from ``start`` (never with ``final``, nor
        beyond a rule's ``max_span``). Redacting ``[start, end)`` while it may
        grow must also swallow what it grows into.
        """
        end = len(text)
        reach = start
        may_grow = False
        for pattern in self._patterns:
            limit = min(end, start + pattern.span)
            m = pattern.backtracking.match(text, start, limit)
            if m is not None:
                reach = max(reach, m.end())
            if not final and end - start < pattern.span and \
                    pattern.to_end.match(text, start, partial=True) is not None:
                may_grow = True
        folded = fold(text[start:start + max((len(p) for _, p in self._phrases), default=0)])
        for _, phrase in self._phrases:
            if folded.startswith(phrase):
                reach = max(reach, start + len(phrase))
            elif not final and phrase.startswith(folded):
                may_grow = True
        return reach, may_grow

