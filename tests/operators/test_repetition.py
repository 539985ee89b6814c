"""Tests for operators/repetition.py: loops found at the token where they become certain."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.repetition import RepetitionDetector


def brute_force_reports(tokens: list[str], max_period: int, min_repeats: int,
                        min_tokens: int) -> list[tuple[int, int]]:
    """(index, period) of each report, straight from the definition."""
    def suffix_run(i: int, p: int) -> int:
        run = 0
        k = i
        while k - p >= 0 and tokens[k] == tokens[k - p]:
            run += 1
            k -= 1
        return run

    reports = []
    in_loop = None
    for i in range(len(tokens)):
        if in_loop is not None and not (i - in_loop >= 0 and tokens[i] == tokens[i - in_loop]):
            in_loop = None
        if in_loop is None:
            for p in range(1, max_period + 1):
                if suffix_run(i, p) + p >= max(min_repeats * p, min_tokens):
                    reports.append((i, p))
                    in_loop = p
                    break
    return reports


def detector_reports(detector: RepetitionDetector, tokens: list[str]) -> list[tuple[int, int]]:
    out = []
    for i, t in enumerate(tokens):
        loop = detector.update(t)
        if loop is not None:
            out.append((i, loop.period))
    return out


@settings(max_examples=400, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(["a", "b", "c", " the", "é", "🙂"]), max_size=120),
    max_period=st.integers(1, 12),
    min_repeats=st.integers(2, 4),
    min_tokens=st.integers(2, 16),
)
def test_matches_the_definition_exactly(tokens, max_period, min_repeats, min_tokens):
    detector = RepetitionDetector(max_period, min_repeats, min_tokens)
    assert detector_reports(detector, tokens) == brute_force_reports(
        tokens, max_period, min_repeats, min_tokens
    )


def test_loop_in_realistic_text_is_found_at_the_earliest_certain_token():
    rng = random.Random(3)
    vocab = [f" w{i}" for i in range(2000)]
    prefix = [rng.choice(vocab) for _ in range(300)]
    span = [" I", " will", " try", " again", "."]
    tokens = prefix + span * 10
    detector = RepetitionDetector(max_period=64, min_repeats=3, min_tokens=24)
    reports = detector_reports(detector, tokens)
    # Certain when 24 tokens (>= 3 copies of 5) repeat: index 300 + 24 - 1.
    assert reports == [(323, 5)]


def test_frequent_tokens_inside_the_period_do_not_hide_the_loop():
    span = [" the"] * 9 + [" end", "."]
    detector = RepetitionDetector(max_period=64, min_repeats=3, min_tokens=24)
    reports = detector_reports(detector, span * 5)
    assert reports and reports[0][1] in (1, 11)
    assert any(p == 11 for _, p in reports)


def test_no_loop_in_varied_text():
    rng = random.Random(5)
    vocab = [f" w{i}" for i in range(3000)]
    detector = RepetitionDetector()
    assert detector_reports(detector, [rng.choice(vocab) for _ in range(20_000)]) == []


def test_state_is_bounded():
    detector = RepetitionDetector(max_period=64)
    rng = random.Random(1)
    for _ in range(50_000):
        detector.update(f"t{rng.randrange(10**9)}")
    assert detector._ring.shape == detector._runs.shape == (65,)


def test_pickle_round_trip_resumes_mid_loop():
    span = [" a", " b", " c", " d"]
    tokens = span * 8
    reference = detector_reports(RepetitionDetector(16, 3, 12), tokens)
    detector = RepetitionDetector(16, 3, 12)
    out = []
    for i, t in enumerate(tokens):
        if i == 7:
            detector = pickle.loads(pickle.dumps(detector))
        loop = detector.update(t)
        if loop:
            out.append((i, loop.period))
    assert out == reference == [(11, 4)]


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="min_repeats must be >= 2"):
        RepetitionDetector(min_repeats=1)
    with pytest.raises(ValueError, match="max_period must be >= 1"):
        RepetitionDetector(max_period=0)
