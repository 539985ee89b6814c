r"""Incremental phrase (Aho–Corasick) and regular-expression rules over text that arrives in pieces.

A :class:`RuleSet` is compiled once and shared by every stream; each stream
owns a small :class:`TextScanState` (a bounded tail of its text). Feeding
deltas one by one finds exactly the matches that scanning the whole text would,
as long as a match is no longer than its rule's window, and reports each at
the delta where it first becomes certain.

Phrases are matched case-insensitively, with typographic quotes folded to
ASCII ones; regular expressions run on the original text with their own flags.
Both run in time linear in the text, whatever it holds: phrases on an
Aho–Corasick automaton, patterns on RE2 through
:mod:`midstream.operators.linear_regex` (which lists the few differences from
Python's ``re``), and anchors on ``re`` only when they have no quantifier.

Examples
--------
>>> rules = RuleSet([
...     Rule(name="refusal", category="intent", phrases=("I can't help",)),
...     Rule(name="email", category="pii", pattern=r"[\w.+-]+@[\w-]+\.[a-z]{2,}",
...          action="redact"),
... ])
>>> state = TextScanState()
>>> [m.rule.name for m in rules.scan(state, "Sorry, I can")]
[]
>>> [m.rule.name for m in rules.scan(state, "’t help. Mail bob@ex")]
['refusal']
>>> [(m.rule.name, m.start, m.end) for m in rules.scan(state, "ample.org now")]
[('email', 26, 41)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import ahocorasick

from midstream.operators.linear_regex import (
    LinearPattern,
    Utf8Offsets,
    byte_offset,
    encode,
    repetition_free,
)

RULE_CATEGORIES = ("intent", "policy", "pii", "custom")
RULE_ACTIONS = ("flag", "stop", "redact")
RULE_SEVERITIES = ("info", "warning", "critical")

_QUOTE_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def fold(text: str) -> str:
    """Lower-case ``text`` and fold typographic quotes, keeping its length.

    Characters whose lower case is longer than one code point (such as 'İ')
    are kept as they are, so offsets in the folded text equal offsets in the
    original.

    Examples
    --------
    >>> fold("I’M Sorry")
    "i'm sorry"
    >>> len(fold("İstanbul")) == len("İstanbul")
    True
    """
    lowered = text.lower()
    if lowered.isascii():
        return lowered  # the common case: no typographic quotes, no length-changing letters
    if len(lowered) != len(text):
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return lowered.translate(_QUOTE_FOLD)


def luhn_valid(text: str) -> bool:
    """Whether the digits in ``text`` pass the Luhn checksum (payment card numbers).

    Examples
    --------
    >>> luhn_valid("4111 1111 1111 1111"), luhn_valid("4111 1111 1111 1112")
    (True, False)
    """
    digits = _NOT_ASCII_DIGIT.sub("", text)
    if len(digits) < 12:
        return False
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


_NOT_ASCII_DIGIT = re.compile(r"[^0-9]+")
_LUHN_DOUBLED = {str(d): (2 * d if d < 5 else 2 * d - 9) for d in range(10)}


VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn_valid}
ANCHOR_OVERLAP = 16
"""Characters before each delta re-searched for anchors split across deltas."""
MAX_MATCHES_PER_DELTA = 32
"""Matches of one pattern reported one by one per delta; the next one runs to the text's end."""


@dataclass(frozen=True)
class Rule:
    r"""One named rule: a set of phrases, a regular expression, or both.

    Parameters
    ----------
    name
        Unique name; it becomes the insight's ``kind``.
    category
        One of ``intent``, ``policy``, ``pii``, ``custom``.
    phrases
        Literal phrases, matched case-insensitively anywhere in the text.
    pattern
        A Python regular expression, matched on the original text in linear
        time; constructs the linear-time engine cannot run are rejected here
        (:mod:`midstream.operators.linear_regex`).
    action
        ``flag`` (insight only), ``stop`` or ``redact`` (insight plus control event).
    severity
        ``info``, ``warning`` or ``critical``.
    max_span
        Longest match, in characters, the regular expression can produce. It
        bounds the text kept per stream.
    validator
        Optional check a regex match must also pass (``luhn``).
    anchor
        Optional regular expression that every match of ``pattern`` contains
        (``@`` for emails, ``\d`` for numbers). A pure speed-up: the pattern
        only runs while an anchor was seen within ``max_span`` characters.
    once
        Report only the first match per stream. Defaults to true for
        phrase-only rules (an intent is a fact about the stream) and false for
        patterns (every distinct email is a separate fact).
    ignore_case
        Compile ``pattern`` case-insensitively.
    """

    name: str
    category: str = "custom"
    phrases: tuple[str, ...] = ()
    pattern: str | None = None
    action: str = "flag"
    severity: str = "info"
    max_span: int = 128
    validator: str | None = None
    anchor: str | None = None
    once: bool | None = None
    ignore_case: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a rule needs a non-empty name")
        if self.category not in RULE_CATEGORIES:
            raise ValueError(f"rule {self.name!r}: category must be one of {RULE_CATEGORIES}")
        if self.action not in RULE_ACTIONS:
            raise ValueError(f"rule {self.name!r}: action must be one of {RULE_ACTIONS}")
        if self.severity not in RULE_SEVERITIES:
            raise ValueError(f"rule {self.name!r}: severity must be one of {RULE_SEVERITIES}")
        if not self.phrases and self.pattern is None:
            raise ValueError(f"rule {self.name!r} needs 'phrases', 'pattern' or both")
        if any(not p for p in self.phrases):
            raise ValueError(f"rule {self.name!r} has an empty phrase")
        if self.max_span < 1:
            raise ValueError(f"rule {self.name!r}: max_span must be >= 1")
        if self.validator is not None and self.validator not in VALIDATORS:
            raise ValueError(f"rule {self.name!r}: validator must be one of {sorted(VALIDATORS)}")
        for label, regex in (("pattern", self.pattern), ("anchor", self.anchor)):
            if regex is None:
                continue
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"rule {self.name!r}: bad {label}: {exc}") from exc
            try:
                _Finder(regex, self.ignore_case, linear=label == "pattern")
            except ValueError as exc:
                raise ValueError(f"rule {self.name!r}: unsupported {label}: {exc}") from exc
        if self.anchor is not None and self.pattern is None:
            raise ValueError(f"rule {self.name!r}: 'anchor' needs a 'pattern'")

    @property
    def reports_once(self) -> bool:
        """Whether only the first match per stream is reported."""
        return self.once if self.once is not None else self.pattern is None


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A match, as ``[start, end)`` character offsets into the stream's whole text."""

    rule: Rule
    start: int
    end: int
    phrase: str | None = None


@dataclass(slots=True)
class TextScanState:
    """Per-stream scan state: a bounded tail of the text and what was reported.

    ``offset`` is the absolute position of ``text[0]`` in the stream's text.
    """

    text: str = ""
    folded: str = ""
    offset: int = 0
    last_span: dict[int, tuple[int, int]] = field(default_factory=dict)
    fired: set[int] = field(default_factory=set)
    anchor_at: dict[int, int] = field(default_factory=dict)
    """Per anchored rule: absolute end of the last anchor occurrence seen."""
    anchors_live_until: int = 0
    """Absolute position from which no anchor seen so far can be inside a new match."""

    @property
    def length(self) -> int:
        """Characters seen so far in the whole stream."""
        return self.offset + len(self.text)


class _Text:
    """The text being scanned, encoded as UTF-8 for RE2 only if a pattern needs it."""

    __slots__ = ("_encoded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._encoded: bytes | None = None

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = encode(self.text)
        return self._encoded

    def byte(self, char: int) -> int:
        return byte_offset(self.text, self.encoded, char)


class _Finder:
    """A regular expression searched by ``re`` when it cannot backtrack, by RE2 otherwise."""

    def __init__(self, pattern: str, ignore_case: bool, linear: bool = False) -> None:
        self.linear: LinearPattern | None = None
        self.backtracking: re.Pattern[str] | None = None
        if linear or not repetition_free(pattern, ignore_case):
            self.linear = LinearPattern(pattern, ignore_case)
        else:
            self.backtracking = re.compile(pattern, re.IGNORECASE if ignore_case else 0)

    def spans(self, text: _Text, pos: int) -> Iterator[tuple[int, int]]:
        """Yield the character spans of non-overlapping matches from ``pos``."""
        if self.backtracking is not None:
            for m in self.backtracking.finditer(text.text, pos):
                yield m.span()
            return
        assert self.linear is not None
        encoded = text.encoded
        if len(encoded) == len(text.text):  # ASCII: byte offsets are character offsets
            yield from self.linear.finditer(encoded, pos)
            return
        offsets = Utf8Offsets(text.text, encoded)
        for start, end in self.linear.finditer(encoded, text.byte(pos)):
            yield offsets.char(start), offsets.char(end)

    def first_end(self, text: _Text, pos: int) -> int | None:
        """Return the end of the first match from ``pos``, or ``None``."""
        if self.backtracking is not None:
            found = self.backtracking.search(text.text, pos)
            return None if found is None else found.end()
        return next((end for _, end in self.spans(text, pos)), None)

    def last_end(self, text: _Text, pos: int) -> int | None:
        """Return the end of the last match from ``pos``, or ``None``."""
        last = None
        for _, end in self.spans(text, pos):
            last = end
        return last


@dataclass(frozen=True, slots=True)
class _CompiledPattern:
    index: int
    rule: Rule
    pattern: _Finder
    validator: Callable[[str], bool] | None
    anchor: _Finder | None


class RuleSet:
    """Compiled rules, shared across streams.

    The phrase automaton and regular expressions are built once here; the
    per-stream :class:`TextScanState` holds only text, so it pickles small.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        names = [r.name for r in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule names: {duplicates}")
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._automaton: ahocorasick.Automaton | None = None
        self._longest_phrase = 0
        phrases = [(i, p) for i, r in enumerate(self.rules) for p in r.phrases]
        if phrases:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
            for index, phrase in phrases:
                key = fold(phrase)
                existing = automaton.get(key, ())
                automaton.add_word(key, (*existing, (index, phrase)))
                self._longest_phrase = max(self._longest_phrase, len(key))
            automaton.make_automaton()
            self._automaton = automaton
        self._patterns: tuple[_CompiledPattern, ...] = tuple(
            _CompiledPattern(
                index=i,
                rule=r,
                pattern=_Finder(r.pattern, r.ignore_case, linear=True),
                validator=VALIDATORS[r.validator] if r.validator else None,
                anchor=None if r.anchor is None else _Finder(r.anchor, r.ignore_case),
            )
            for i, r in enumerate(self.rules)
            if r.pattern is not None
        )
        anchors = {(r.anchor, r.ignore_case) for r in self.rules if r.anchor is not None}
        # Whether any anchor occurs at all, in one pass when every anchor stays on `re`:
        # plain prose usually has none.
        self._any_anchor_re: re.Pattern[str] | None = None
        self._any_anchor: tuple[_Finder, ...] = ()
        if anchors and all(repetition_free(a, i) for a, i in anchors):
            either = "|".join(sorted(f"(?i:{a})" if i else f"(?:{a})" for a, i in anchors))
            self._any_anchor_re = re.compile(either)
        else:
            self._any_anchor = tuple(_Finder(a, i) for a, i in sorted(anchors))
        self._all_anchored = all(c.anchor is not None for c in self._patterns)
        self._longest_pattern = max(
            (r.max_span for r in self.rules if r.pattern is not None), default=0
        )
        self.window = max(self._longest_phrase, self._longest_pattern, 1)
        """Characters of tail text each stream keeps."""

    def __repr__(self) -> str:
        return f"RuleSet({[r.name for r in self.rules]!r})"

    def scan(self, state: TextScanState, delta: str) -> list[RuleMatch]:
        """Append ``delta`` to the stream and return the matches it completes.

        Each match is reported once: at the first delta where the phrase is
        complete, or where the regular expression (and its validator) first
        matches. A pattern match that keeps growing with later deltas is the
        same match and is not reported again.
        """
        if not delta:
            return []
        new_at = len(state.text)
        state.text += delta
        state.folded += fold(delta)
        matches: list[RuleMatch] = []
        if self._automaton is not None:
            self._scan_phrases(state, new_at, matches)
        if self._patterns:
            self._scan_patterns(state, new_at, matches)
        keep = self.window
        if len(state.text) > 2 * keep:
            # Trim in amortised steps: slicing on every delta would copy the tail each time.
            cut = len(state.text) - keep
            state.text = state.text[cut:]
            state.folded = state.folded[cut:]
            state.offset += cut
        return matches

    def _scan_phrases(self, state: TextScanState, new_at: int, out: list[RuleMatch]) -> None:
        assert self._automaton is not None
        begin = max(0, new_at - self._longest_phrase + 1)
        for end_index, entries in self._automaton.iter(state.folded, begin):
            for rule_index, phrase in entries:
                start = end_index + 1 - len(phrase)
                if end_index < new_at or start < begin:
                    continue
                rule = self.rules[rule_index]
                if rule.reports_once:
                    if rule_index in state.fired:
                        continue
                    state.fired.add(rule_index)
                absolute = state.offset + start
                out.append(RuleMatch(rule, absolute, absolute + len(phrase), phrase))

    def _scan_patterns(self, state: TextScanState, new_at: int, out: list[RuleMatch]) -> None:
        # Anchors may straddle deltas: look a little before the new text too.
        anchor_from = max(0, new_at - ANCHOR_OVERLAP)
        text = _Text(state.text)
        if self._any_anchor_re is not None:
            any_anchor = self._any_anchor_re.search(state.text, anchor_from) is not None
        else:
            any_anchor = any(a.first_end(text, anchor_from) is not None for a in self._any_anchor)
        if not any_anchor and self._all_anchored and (
            state.offset + new_at >= state.anchors_live_until
        ):
            return  # the common case in prose: no pattern can match text touching this delta
        for compiled in self._patterns:
            rule_index, rule = compiled.index, compiled.rule
            if rule.reports_once and rule_index in state.fired:
                continue
            begin = max(0, new_at - rule.max_span)
            if compiled.anchor is not None:
                if any_anchor:
                    # Only the last anchor within max_span of the end matters from here on;
                    # searching just there keeps a delta full of anchors linear. An anchor
                    # before that region (found by first_end) can only rule matches out.
                    near_end = max(anchor_from, len(state.text) - rule.max_span - ANCHOR_OVERLAP)
                    seen = compiled.anchor.last_end(text, near_end)
                    if seen is None:
                        seen = compiled.anchor.first_end(text, anchor_from)
                    if seen is not None:
                        state.anchor_at[rule_index] = state.offset + seen
                        state.anchors_live_until = max(state.anchors_live_until,
                                                       state.offset + seen + rule.max_span)
                last = state.anchor_at.get(rule_index)
                # A match touching the new text starts after new_at - max_span and holds an
                # anchor, so an anchor ending at or before that point rules every match out.
                if last is None or last <= state.offset + new_at - rule.max_span:
                    continue
            validator = compiled.validator
            reported = 0
            for m_start, m_end in compiled.pattern.spans(text, begin):
                if m_end <= new_at or m_end == m_start:
                    continue
                start, end = state.offset + m_start, state.offset + m_end
                previous = state.last_span.get(rule_index)
                if previous is not None and start < previous[1] and end > previous[0]:
                    # The same match, grown by the new text: extend, don't repeat.
                    state.last_span[rule_index] = (min(start, previous[0]), max(end, previous[1]))
                    continue
                if validator is not None and not validator(state.text[m_start:m_end]):
                    continue
                if reported == MAX_MATCHES_PER_DELTA:
                    # A flood of matches in one delta: one more match covers the rest of the
                    # text, so nothing leaks and neither the scan nor its records keep growing.
                    end = state.offset + len(state.text)
                    state.last_span[rule_index] = (start, end)
                    out.append(RuleMatch(rule, start, end))
                    break
                reported += 1
                state.last_span[rule_index] = (start, end)
                out.append(RuleMatch(rule, start, end))
                if rule.reports_once:
                    state.fired.add(rule_index)
                    break
