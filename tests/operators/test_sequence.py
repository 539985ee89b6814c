"""Tests for operators/sequence.py: edit distance and LCS against the textbook recurrences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.sequence import edit_distance, edit_similarity, lcs_length, lcs_similarity

texts = st.text(alphabet=st.sampled_from("abcé日🙂 \u0301"), max_size=30)
token_ids = st.lists(st.integers(0, 6), max_size=30)
words = st.lists(st.sampled_from(["a", "b", " the", "é", "🙂"]), max_size=30)


def wagner_fischer(a: list, b: list) -> int:
    """Levenshtein distance by the full table (Wagner & Fischer 1974)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        row = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
        previous = row
    return previous[-1]


def brute_lcs(a: list, b: list) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, start=1):
        for j, y in enumerate(b, start=1):
            table[i][j] = (table[i - 1][j - 1] + 1 if x == y
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1]


def check(a, b, as_list_a: list, as_list_b: list) -> None:
    distance = wagner_fischer(as_list_a, as_list_b)
    common = brute_lcs(as_list_a, as_list_b)
    longest = max(len(as_list_a), len(as_list_b))
    assert edit_distance(a, b) == distance
    assert lcs_length(a, b) == common
    assert edit_similarity(a, b) == pytest.approx(1 - distance / longest if longest else 1.0)
    assert lcs_similarity(a, b) == pytest.approx(common / longest if longest else 1.0)
    assert 0.0 <= edit_similarity(a, b) <= 1.0 and 0.0 <= lcs_similarity(a, b) <= 1.0


@settings(max_examples=300, deadline=None)
@given(a=texts, b=texts)
def test_strings_including_non_ascii_match_the_recurrences(a, b):
    check(a, b, list(a), list(b))


@settings(max_examples=300, deadline=None)
@given(a=token_ids, b=token_ids, dtype=st.sampled_from([np.int64, np.int32, np.uint16]))
def test_token_ids_as_lists_and_numpy_arrays_match_the_recurrences(a, b, dtype):
    check(a, b, a, b)
    check(np.array(a, dtype=dtype), np.array(b, dtype=dtype), a, b)
    check(np.array(a, dtype=dtype), b, a, b)


@settings(max_examples=200, deadline=None)
@given(a=words, b=words)
def test_token_strings_match_the_recurrences(a, b):
    check(a, b, a, b)


def test_published_examples():
    # Levenshtein's kitten/sitting; CLRS's LCS example (ch. 15: BCBA).
    assert edit_distance("kitten", "sitting") == 3
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert edit_similarity("", "") == lcs_similarity([], []) == 1.0
    assert edit_similarity("abc", "xyz") == 0.0 and lcs_similarity("abc", "") == 0.0


def test_long_token_sequences_cross_word_boundaries():
    # Longer than 64 tokens: rapidfuzz's multi-word bit-parallel path.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 20, 300)
    b = a.copy()
    b[rng.integers(0, 300, 25)] = 99
    b = np.delete(b, [5, 100, 200])
    assert edit_distance(a, b) == wagner_fischer(a.tolist(), b.tolist())
    assert lcs_length(a, b) == brute_lcs(a.tolist(), b.tolist())


def test_two_dimensional_arrays_are_refused():
    with pytest.raises(ValueError, match="must be 1-d"):
        edit_distance(np.zeros((2, 2), dtype=int), [0, 0])
