"""Tests for operators/sequence_distance.py: distances against the textbook recurrences."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.sequence_distance import (
    EditDistanceSearch,
    Occurrence,
    edit_distance,
    edit_similarity,
    indel_distance,
    lcs_length,
)

tokens = st.lists(st.sampled_from(["a", "b", "c", " the", "é", "🙂"]), max_size=30)


def wagner_fischer(a: list, b: list, free_start: bool = False) -> list[int]:
    """Last row of the Levenshtein table of ``a`` (rows) against every prefix of ``b``.

    With ``free_start`` the top row is zero (Sellers 1980): entry ``j`` is then the
    smallest distance from ``a`` to any substring of ``b`` ending at ``j``.
    """
    previous = [0 if free_start else j for j in range(len(b) + 1)]
    for i, x in enumerate(a, start=1):
        row = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
        previous = row
    return previous


def brute_lcs(a: list, b: list) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, start=1):
        for j, y in enumerate(b, start=1):
            table[i][j] = (table[i - 1][j - 1] + 1 if x == y
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1]


@settings(max_examples=300, deadline=None)
@given(a=tokens, b=tokens)
def test_batch_distances_match_the_recurrences(a, b):
    distance = wagner_fischer(a, b)[-1]
    assert edit_distance(a, b) == distance
    assert lcs_length(a, b) == brute_lcs(a, b)
    assert indel_distance(a, b) == len(a) + len(b) - 2 * brute_lcs(a, b)
    longest = max(len(a), len(b))
    assert edit_similarity(a, b) == pytest.approx(1 - distance / longest if longest else 1.0)


def test_published_examples():
    # Levenshtein's kitten/sitting; CLRS's LCS example (ch. 15: BCBA).
    assert edit_distance("kitten", "sitting") == 3
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert edit_distance("abc", "xyzabc", max_distance=1) == 2


@settings(max_examples=300, deadline=None)
@given(reference=st.lists(st.sampled_from("abcd"), min_size=1, max_size=8),
       stream=st.lists(st.sampled_from("abcde"), max_size=40), data=st.data())
def test_search_distance_is_sellers_at_every_token(reference, stream, data):
    max_edits = data.draw(st.integers(0, len(reference) - 1))
    search = EditDistanceSearch(reference, max_edits)
    expected = wagner_fischer(reference, stream, free_start=True)[1:]
    inside = False
    for k, token in enumerate(stream):
        found = search.update(token)
        assert search.distance == expected[k]
        entering = expected[k] <= max_edits and not inside
        inside = expected[k] <= max_edits
        assert found == (Occurrence(k, expected[k]) if entering else None)


@pytest.mark.parametrize("length", [63, 64, 65, 130, 300])
def test_long_references_cross_word_boundaries(length):
    # Several 64-bit blocks: the horizontal deltas must carry from one block to the next.
    rng = random.Random(length)
    vocabulary = [f"t{i}" for i in range(12)]
    reference = [rng.choice(vocabulary) for _ in range(length)]
    noisy = list(reference)
    for _ in range(length // 10):
        noisy[rng.randrange(len(noisy))] = rng.choice(vocabulary)
    del noisy[rng.randrange(len(noisy))]
    stream = [rng.choice(vocabulary) for _ in range(200)] + noisy + ["x"] * 20
    expected = wagner_fischer(reference, stream, free_start=True)[1:]
    search = EditDistanceSearch(reference, max_edits=length // 5)
    got = []
    for token in stream:
        search.update(token)
        got.append(search.distance)
    assert got == expected


def test_update_many_equals_update():
    rng = random.Random(0)
    reference = [rng.choice("abcdefgh") for _ in range(90)]
    stream = [rng.choice("abcdefgh") for _ in range(3000)]
    for at in (100, 1500, 2800):
        stream[at:at + 90] = reference
        stream[at + 40] = "z"
    one = EditDistanceSearch(reference, max_edits=3)
    online = [o for t in stream if (o := one.update(t)) is not None]
    many = EditDistanceSearch(reference, max_edits=3)
    batched = many.update_many(stream[:1000]) + many.update_many(stream[1000:])
    assert batched == online and len(online) == 3
    assert many.distance == one.distance and many.tokens_seen == len(stream)


def test_pickle_mid_stream_resumes_identically():
    rng = random.Random(1)
    reference = [f"w{rng.randrange(50)}" for _ in range(70)]
    stream = [f"w{rng.randrange(50)}" for _ in range(800)]
    stream[300:370] = reference
    reference_run = EditDistanceSearch(reference, 5)
    expected = [(reference_run.update(t), reference_run.distance) for t in stream]
    for cut in (0, 1, 310, 369, 371, 799):
        search = EditDistanceSearch(reference, 5)
        got = [(search.update(t), search.distance) for t in stream[:cut]]
        search = pickle.loads(pickle.dumps(search))
        got += [(search.update(t), search.distance) for t in stream[cut:]]
        assert got == expected


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="must not be empty"):
        EditDistanceSearch([], 0)
    with pytest.raises(ValueError, match=r"max_edits must be in 0\.\.2"):
        EditDistanceSearch("abc", 3)
