"""Tests for operators/linear_regex.py: Python patterns on RE2, same matches, linear time."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.linear_regex import (
    LinearPattern,
    Utf8Offsets,
    byte_offset,
    encode,
    repetition_free,
)

PATTERNS = [
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    r"(?<![\d-])(?:\d[ \-]?){12,18}\d(?![\d])",
    r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{3}\)|\d{3})[ .\-]\d{3}[ .\-]\d{4}(?!\d)",
    r"(?:sk-[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)",
    r"a+?b|ab*",
    r"(?<=x)\w+",
    r"é\w*(?=\s)",
    r"(?i)straße|[^\s\d]{3}",
    r"\d+(?:\.\d+)?(?!\.)",
    r"(?<!a)\S+",
    r".b.",
    r"(?s).b.",
    r"[\w-]{2}\W",
]
TEXT = st.text(alphabet="ab xé1-2.@+\n\tK_ßSsTRAE9\u00a0٣", max_size=60)


def python_spans(pattern: str, text: str, ignore_case: bool = False) -> list[tuple[int, int]]:
    flags = re.IGNORECASE if ignore_case else 0
    return [m.span() for m in re.finditer(pattern, text, flags) if m.end() > m.start()]


def linear_spans(pattern: str, text: str, ignore_case: bool = False) -> list[tuple[int, int]]:
    encoded = encode(text)
    offsets = Utf8Offsets(text, encoded)
    return [(offsets.char(s), offsets.char(e))
            for s, e in LinearPattern(pattern, ignore_case).finditer(encoded, 0) if e > s]


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=150, deadline=None)
@given(text=TEXT)
def test_same_spans_as_python_re(pattern: str, text: str):
    assert linear_spans(pattern, text) == python_spans(pattern, text)


@settings(max_examples=150, deadline=None)
@given(text=TEXT, pos=st.integers(min_value=0, max_value=60))
def test_search_from_a_position_sees_the_text_before_it(text: str, pos: int):
    pattern = r"(?<![\d-])\d{2}"
    pos = min(pos, len(text))
    found = re.compile(pattern).search(text, pos)
    encoded = encode(text)
    span = LinearPattern(pattern).search(encoded, byte_offset(text, encoded, pos))
    offsets = Utf8Offsets(text, encoded)
    got = None if span is None else (offsets.char(span[0]), offsets.char(span[1]))
    assert got == (None if found is None else found.span())


def test_ignore_case_and_unicode_classes():
    assert linear_spans(r"bob@ex", "BOB@EX", ignore_case=True) == [(0, 6)]
    assert linear_spans(r"\d+", "call ٣٤٥ now") == [(5, 8)]
    assert linear_spans(r"\s", "a\u00a0b") == [(1, 2)]


def test_lone_surrogates_keep_offsets():
    text = "x" + chr(0xDC80) + " bob@ex.org"
    pattern = r"\w+@\w+\.\w+"
    assert linear_spans(pattern, text) == python_spans(pattern, text) == [(3, 13)]


@pytest.mark.parametrize(("pattern", "named"), [
    (r"(\w)\1", "back-references"),
    (r"(?=a)b", "lookarounds"),
    (r"a(?<!b)c", "lookarounds"),
    (r"(?<=ab)c", "lookarounds"),
    (r"(?>a+)b", "atomic groups"),
    (r"a++", "possessive quantifiers"),
    (r"(a)?(?(1)b|c)", "conditional groups"),
    (r"[\D.]", r"\\D, \\W and \\S inside a character class"),
])
def test_unsupported_constructs_are_named(pattern: str, named: str):
    with pytest.raises(ValueError, match=named):
        LinearPattern(pattern)


def test_repetition_free():
    assert repetition_free(r"@")
    assert repetition_free(r"sk-|AKIA|-----BEGIN")
    assert not repetition_free(r"(?:ab)*")
    assert not repetition_free(r"(a)\1")


def test_pickles():
    import pickle

    pattern = pickle.loads(pickle.dumps(LinearPattern(r"\d+", ignore_case=True)))
    assert list(pattern.finditer(b"ab 12", 0)) == [(3, 5)]


def test_offsets_going_back_restart_from_the_nearer_end():
    text = "é" * 10 + "a" * 10
    offsets = Utf8Offsets(text, encode(text))
    assert offsets.char(25) == 15
    assert offsets.char(4) == 2
    assert offsets.char(28) == 18


def _best_time(pattern: LinearPattern, encoded: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        list(pattern.finditer(encoded, 0))
        best = min(best, time.thread_time() - started)
    return best


def test_backtracking_blow_up_is_linear():
    """``re`` takes seconds on this; 4x the text must cost far less than 16x the time."""
    email = LinearPattern(PATTERNS[0])
    small = _best_time(email, encode("a" * 16_000 + "@"))
    large = _best_time(email, encode("a" * 64_000 + "@"))
    assert large < 0.05
    assert large / max(small, 1e-4) < 8
