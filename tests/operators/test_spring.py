"""Tests for operators/spring.py: SPRING reports exactly the disjoint best matches, online."""

from __future__ import annotations

import math
import pickle
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.dtw import Match
from midstream.operators.spring import Spring, best_subsequence, spring_matches
from tests.operators.brute_force import dtw_squared, local_cost

samples = st.integers(-4, 4).map(float)  # small integers: many exact ties, the hard case


def all_subsequences(x: list, query: list) -> dict[tuple[int, int], float]:
    """Squared DTW of every subsequence x[s..e] (inclusive) to the query."""
    return {(s, e): dtw_squared(x[s:e + 1], query)
            for s in range(len(x)) for e in range(s, len(x))}


def spring_as_published(x: list, query: list, epsilon_sq: float,
                        radius: int | None = None) -> list[tuple[int, int, float, int]]:
    """Plain transcription of the paper's pseudocode: (start, end, d, reported at).

    With ``radius``, a predecessor may only be extended when the new cell stays in
    the band relative to that path's start.
    """
    m = len(query)
    d = [0.0] + [math.inf] * m
    s = [0] * (m + 1)
    dmin, ts, te = math.inf, -1, -1
    out = []
    for t, xt in enumerate(x):
        d2, s2 = [0.0] * (m + 1), [t] * (m + 1)
        for i in range(1, m + 1):
            options = [(d2[i - 1], s2[i - 1]), (d[i - 1], s[i - 1]), (d[i], s[i])]
            if radius is not None:
                options = [(v, st) if abs(t - st - (i - 1)) <= radius else (math.inf, st)
                           for v, st in options]
            best = min(v for v, _ in options)
            d2[i] = local_cost(xt, query[i - 1]) + best
            s2[i] = next(start for v, start in options if v == best)
        if dmin <= epsilon_sq and all(d2[i] >= dmin or s2[i] > te for i in range(1, m + 1)):
            out.append((ts, te, dmin, t))
            dmin = math.inf
            for i in range(1, m + 1):
                if s2[i] <= te:
                    d2[i] = math.inf
        if d2[m] <= epsilon_sq and d2[m] < dmin:
            dmin, ts, te = d2[m], s2[m], t
        d, s = d2, s2
    if dmin <= epsilon_sq:
        out.append((ts, te, dmin, len(x)))
    return out


def check_reports(matches: list[Match], subsequences: dict[tuple[int, int], float],
                  epsilon: float) -> None:
    """Within the threshold; exact for the first report, a valid path's cost for later ones.

    A report retires the paths overlapping it (Sakurai et al.'s algorithm), so a later
    match's cell may hold a costlier path than its span's best one: its distance is then
    the cost of a real warping path of that span, never below the span's DTW distance.
    """
    for k, match in enumerate(matches):
        assert match.distance <= epsilon + 1e-12
        span = subsequences[match.start, match.end]
        if k == 0:
            assert match.distance ** 2 == pytest.approx(span)
        else:
            assert match.distance ** 2 >= span - 1e-9


def run_online(spring: Spring, x: list) -> list[tuple[int, int, float, int]]:
    out = []
    for t, v in enumerate(x):
        for match in spring.update(v):
            out.append((match.start, match.end, match.distance ** 2, t))
    last = spring.flush()
    if last is not None:
        out.append((last.start, last.end, last.distance ** 2, len(x)))
    return out


@settings(max_examples=300, deadline=None)
@given(x=st.lists(samples, max_size=40), query=st.lists(samples, min_size=1, max_size=5),
       epsilon=st.floats(0, 6), radius=st.one_of(st.none(), st.integers(0, 3)))
def test_online_reports_match_the_published_algorithm_sample_for_sample(x, query, epsilon,
                                                                        radius):
    expected = spring_as_published(x, query, epsilon * epsilon, radius)
    got = run_online(Spring(query, epsilon, window=radius), x)
    assert [(s, e, t) for s, e, _, t in got] == [(s, e, t) for s, e, _, t in expected]
    assert [d for *_, d, _ in got] == pytest.approx([d for *_, d, _ in expected])


@settings(max_examples=200, deadline=None)
@given(x=st.lists(samples, min_size=1, max_size=22),
       query=st.lists(samples, min_size=1, max_size=4), epsilon=st.floats(0, 6))
def test_reports_are_exact_disjoint_and_include_the_closest(x, query, epsilon):
    # Against brute force over every subsequence.
    subsequences = all_subsequences(x, query)
    eps_sq = epsilon * epsilon
    matches = spring_matches(x, query, epsilon)
    check_reports(matches, subsequences, epsilon)
    for before, after in pairwise(matches):
        assert before.end < after.start
    if min(subsequences.values()) <= eps_sq - 1e-9:
        closest = min(subsequences.values())
        assert min(m.distance for m in matches) ** 2 == pytest.approx(closest)


@settings(max_examples=200, deadline=None)
@given(x=st.lists(samples, min_size=1, max_size=22),
       query=st.lists(samples, min_size=1, max_size=4))
def test_best_subsequence_is_the_brute_force_minimum(x, query):
    subsequences = all_subsequences(x, query)
    best = best_subsequence(x, query)
    assert best.distance ** 2 == pytest.approx(min(subsequences.values()))
    assert subsequences[best.start, best.end] == pytest.approx(best.distance ** 2)


def test_the_papers_running_example():
    # Sakurai et al. 2007, section 4 example: X = (5, 12, 6, 10, 6, 5, 13), Y = (11, 6, 9, 4),
    # threshold 15 on the squared distance. X[2:5] (1-based) at squared distance 6 is
    # reported at t = 7, when no overlapping path can improve on it any more.
    spring = Spring([11, 6, 9, 4], threshold=math.sqrt(15))
    found = [spring.update(x) for x in [5, 12, 6, 10, 6, 5, 13]]
    assert found[:6] == [[]] * 6
    assert found[6] == [Match(start=1, end=4, distance=pytest.approx(math.sqrt(6)))]
    assert dtw_squared([12, 6, 10, 6], [11, 6, 9, 4]) == 6


@settings(max_examples=200, deadline=None)
@given(x=st.lists(samples, min_size=1, max_size=30),
       query=st.lists(samples, min_size=1, max_size=5), epsilon=st.floats(0, 6),
       radius=st.integers(0, 3))
def test_banded_matches_respect_the_band_and_the_threshold(x, query, epsilon, radius):
    for match in spring_matches(x, query, epsilon, window=radius):
        assert abs(match.length - len(query)) <= radius
        assert match.distance <= epsilon + 1e-12
        # The stored path is an in-band path of this span, so never below its banded DTW.
        span = x[match.start:match.end + 1]
        assert match.distance ** 2 >= dtw_squared(span, query, radius) - 1e-9


@settings(max_examples=100, deadline=None)
@given(x=st.lists(samples, max_size=30), query=st.lists(samples, min_size=1, max_size=5),
       epsilon=st.floats(0, 6))
def test_a_band_wider_than_any_match_changes_nothing(x, query, epsilon):
    wide = len(x) + len(query)
    assert spring_matches(x, query, epsilon, window=wide) == spring_matches(x, query, epsilon)


def test_znorm_equals_matching_the_trailing_normalised_stream():
    rng = np.random.default_rng(7)
    query = np.array([0.0, 1.0, 3.0, 1.0, 0.0, -1.0])
    x = np.cumsum(rng.normal(size=500)) + 1e4
    x[200:206] = 1e4 + 40 * query  # scaled and offset copy
    m = len(query)
    normalised = np.empty_like(x)
    for t in range(len(x)):
        part = x[max(0, t - m + 1):t + 1]
        std = part.std()
        normalised[t] = (x[t] - part.mean()) / std if std > 1e-9 * abs(part.mean()) else 0.0
    qn = (query - query.mean()) / query.std()
    expected = spring_matches(normalised, qn, 1.0)
    got = spring_matches(x, query, 1.0, znorm=True)
    assert [(g.start, g.end) for g in got] == [(e.start, e.end) for e in expected]
    assert [g.distance for g in got] == pytest.approx([e.distance for e in expected], abs=1e-6)
    assert spring_matches(x, query, 1.0) == []  # the raw values are nowhere near the query


def test_a_qualifying_subsequence_can_be_shadowed_by_a_better_overlapping_path():
    # The matrix keeps one path per cell. Here (1, 1) is within epsilon and disjoint from the
    # reported (0, 0), but its cell was taken by the cheaper path from 0, which the report
    # retires: SPRING's disjoint-query semantics, not a bug (see the module docstring).
    assert spring_matches([0.0, 1.0], [0.0, 0.0], threshold=2.0) == [Match(0, 0, 0.0)]


def noisy_occurrences(seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    query = np.sin(np.linspace(0, 2 * np.pi, 40)) * 3
    x = rng.normal(0, 0.3, 6000)
    starts = [500, 2100, 4000]
    for k, at in enumerate(starts):
        stretched = np.interp(np.linspace(0, 39, 40 + 10 * k), np.arange(40), query)
        x[at:at + stretched.shape[0]] += stretched
    return x, query, starts


def test_finds_time_stretched_occurrences_in_noise():
    x, query, starts = noisy_occurrences(0)
    matches = spring_matches(x, query, threshold=4.0)
    assert [m.start for m in matches] == pytest.approx(starts, abs=3)
    assert [m.length for m in matches] == pytest.approx([40, 50, 60], abs=6)


def test_update_many_equals_update():
    x, query, _ = noisy_occurrences(1)
    one = Spring(query, 4.0)
    online = [m for v in x for m in one.update(float(v))]
    assert Spring(query, 4.0).update_many(x) == online and len(online) == 3


@pytest.mark.parametrize(("threshold", "window", "znorm"),
                         [(4.0, None, False), (4.0, 8, False), (3.0, None, True)])
def test_pickle_mid_stream_resumes_identically(threshold, window, znorm):
    x, query, _ = noisy_occurrences(2)
    reference = Spring(query, threshold, window=window, znorm=znorm)
    expected = [reference.update(float(v)) for v in x]
    assert sum(map(len, expected)) >= 2  # the cuts below fall inside and between matches
    for cut in (0, 1, 39, 40, 41, 520, 530, 2150, 5999):
        spring = Spring(query, threshold, window=window, znorm=znorm)
        got = [spring.update(float(v)) for v in x[:cut]]
        spring = pickle.loads(pickle.dumps(spring))
        got += [spring.update(float(v)) for v in x[cut:]]
        assert got == expected


def test_state_is_constant_in_stream_length():
    spring = Spring(np.zeros(16), 1.0)
    before = len(pickle.dumps(spring))
    spring.update_many(np.random.default_rng(3).normal(size=100_000))
    assert len(pickle.dumps(spring)) == before and spring.samples_seen == 100_000


def test_invalid_input_is_named():
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0"):
        Spring([1.0], threshold=-1)
    with pytest.raises(ValueError, match="non-empty"):
        Spring([], threshold=1)
    with pytest.raises(ValueError, match="finite"):
        Spring([1.0], threshold=1).update(math.nan)
    with pytest.raises(ValueError, match="window must be None"):
        Spring([1.0, 2.0], threshold=1, window=-2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        Spring([1.0], threshold=1, znorm=True)


rows2 = st.lists(st.integers(-3, 3).map(float), min_size=2, max_size=2)


@settings(max_examples=200, deadline=None)
@given(x=st.lists(rows2, max_size=25), query=st.lists(rows2, min_size=1, max_size=4),
       epsilon=st.floats(0, 6), radius=st.one_of(st.none(), st.integers(0, 3)))
def test_multivariate_reports_match_the_published_algorithm(x, query, epsilon, radius):
    expected = spring_as_published(x, query, epsilon * epsilon, radius)
    got = run_online(Spring(query, epsilon, window=radius), x)
    assert [(s, e, t) for s, e, _, t in got] == [(s, e, t) for s, e, _, t in expected]
    assert [d for *_, d, _ in got] == pytest.approx([d for *_, d, _ in expected])


@settings(max_examples=150, deadline=None)
@given(x=st.lists(rows2, min_size=1, max_size=16), query=st.lists(rows2, min_size=1, max_size=3),
       epsilon=st.floats(0, 6))
def test_multivariate_reports_are_exact_disjoint_and_include_the_closest(x, query, epsilon):
    subsequences = all_subsequences(x, query)
    matches = spring_matches(x, query, epsilon)
    check_reports(matches, subsequences, epsilon)
    for before, after in pairwise(matches):
        assert before.end < after.start
    if min(subsequences.values()) <= epsilon * epsilon - 1e-9:
        assert min(m.distance for m in matches) ** 2 == pytest.approx(min(subsequences.values()))
    best = best_subsequence(x, query)
    assert best.distance ** 2 == pytest.approx(min(subsequences.values()))


def planted_multivariate(seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A 3-d query of 100 samples planted, time-warped, at known places in 3-d noise."""
    rng = np.random.default_rng(seed)
    phase = np.linspace(0, 2 * np.pi, 100)
    query = np.column_stack([np.sin(phase), np.cos(2 * phase), phase / np.pi - 1]) * 3
    x = rng.normal(0, 0.3, (8000, 3))
    starts = [700, 3000, 6100]
    for k, at in enumerate(starts):
        warp = np.linspace(0, 1, 100 + 15 * k) ** (1 + 0.1 * k) * 99
        stretched = np.column_stack([np.interp(warp, np.arange(100), query[:, d])
                                     for d in range(3)])
        x[at:at + stretched.shape[0]] += stretched
    return x, query, starts


def test_finds_warped_multivariate_occurrences_in_batches_of_any_size():
    x, query, starts = planted_multivariate(3)
    matches = spring_matches(x, query, threshold=12.0)
    assert [m.start for m in matches] == pytest.approx(starts, abs=6)
    assert [m.end for m in matches] == pytest.approx([799, 3114, 6229], abs=6)
    rng = np.random.default_rng(4)
    spring = Spring(query, 12.0)
    got, at = [], 0
    while at < len(x):
        size = int(rng.integers(1, 700))
        got += spring.update(x[at:at + size]) if size > 1 else spring.update(x[at])
        at += size
    last = spring.flush()
    assert got + ([last] if last is not None else []) == matches


@settings(max_examples=60, deadline=None)
@given(x=st.lists(samples, max_size=60), query=st.lists(samples, min_size=1, max_size=5),
       epsilon=st.floats(0, 6), radius=st.one_of(st.none(), st.integers(0, 3)),
       cuts=st.lists(st.integers(0, 60), max_size=6))
def test_random_batch_sizes_give_the_same_matches(x, query, epsilon, radius, cuts):
    one = Spring(query, epsilon, window=radius)
    expected = [m for v in x for m in one.update(v)]
    batched = Spring(query, epsilon, window=radius)
    got = []
    bounds = sorted({0, len(x), *[c for c in cuts if c <= len(x)]})
    for lo, hi in pairwise(bounds):
        got += batched.update(np.array(x[lo:hi]))
    assert got == expected and one.flush() == batched.flush()


def test_multivariate_znorm_is_per_dimension_and_survives_scale_and_offset():
    x, query, _ = planted_multivariate(5)
    x = x[:2000]
    m = len(query)
    normalised = np.empty_like(x)
    for t in range(len(x)):
        part = x[max(0, t - m + 1):t + 1]
        std = part.std(axis=0)
        normalised[t] = np.where(std > 0, (x[t] - part.mean(axis=0)) / np.where(std > 0, std, 1), 0)
    qn = (query - query.mean(axis=0)) / query.std(axis=0)
    expected = spring_matches(normalised, qn, threshold=10.0)
    plain = spring_matches(x, query, threshold=10.0, znorm=True)
    assert plain and [(m.start, m.end) for m in plain] == [(e.start, e.end) for e in expected]
    assert [m.distance for m in plain] == pytest.approx([e.distance for e in expected], abs=1e-6)
    moved = x * np.array([10.0, 0.5, 3.0]) + np.array([1e4, -50.0, 7.0])
    again = spring_matches(moved, query * np.array([2.0, 1.0, 5.0]) - 3, threshold=10.0,
                           znorm=True)
    assert [(m.start, m.end) for m in again] == [(m.start, m.end) for m in plain]
    assert [m.distance for m in again] == pytest.approx([m.distance for m in plain], abs=1e-6)


def test_multivariate_pickle_mid_stream_resumes_identically():
    x, query, _ = planted_multivariate(6)
    for window, znorm in ((20, False), (None, True)):
        reference = Spring(query, 12.0, window=window, znorm=znorm)
        expected = [reference.update(row) for row in x]
        assert sum(map(len, expected)) >= 2
        for cut in (0, 99, 750, 3050, 7999):
            spring = Spring(query, 12.0, window=window, znorm=znorm)
            got = [spring.update(row) for row in x[:cut]]
            spring = pickle.loads(pickle.dumps(spring))
            got += [spring.update(row) for row in x[cut:]]
            assert got == expected


def test_sample_shapes_are_checked():
    with pytest.raises(ValueError, match="2-vector or an n x 2 batch"):
        Spring([[0.0, 1.0]], 1.0).update([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="a number or a 1-d batch"):
        Spring([0.0, 1.0], 1.0).update([[1.0, 2.0]])
    with pytest.raises(ValueError, match="finite"):
        Spring([[0.0, 1.0]], 1.0).update([1.0, math.inf])
    with pytest.raises(ValueError, match="same d"):
        best_subsequence([[1.0, 2.0]], [1.0])
