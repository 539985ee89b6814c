"""Tests for operators/dtw.py: DTW distance and path, lower bounds, the UCR best-match search."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators._dtw_kernels import (
    dtw_squared_abandoning,
    slide_window,
    window_mean_inverse_std,
)
from midstream.operators.dtw import (
    BestMatchSearch,
    Match,
    best_match,
    dtw_distance,
    dtw_path,
    envelope,
    lb_keogh,
    lb_kim,
    z_normalise,
)
from tests.operators.brute_force import dtw_squared as dtw_squared_brute
from tests.operators.brute_force import local_cost

values = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
series = st.lists(values, min_size=1, max_size=14)
radii = st.one_of(st.none(), st.integers(0, 4))


def brute_dtw(a: list, b: list, radius: int | None = None) -> float:
    """Brute-force DTW with the documented band (widened for unequal lengths)."""
    return math.sqrt(dtw_squared_brute(a, b, radius, widen=True))


def multivariate_pairs(max_len: int = 12) -> st.SearchStrategy:
    """Two n x d and m x d lists of rows, d from 1 to 3."""
    def rows(d: int) -> st.SearchStrategy:
        return st.lists(st.lists(values, min_size=d, max_size=d), min_size=1, max_size=max_len)
    return st.integers(1, 3).flatmap(lambda d: st.tuples(rows(d), rows(d)))


def check_path(path: list[tuple[int, int]], n: int, m: int, radius: int | None) -> None:
    """A warping path: (0, 0) to (n-1, m-1), unit steps forward, every cell in the band."""
    assert path[0] == (0, 0) and path[-1] == (n - 1, m - 1)
    for (i0, j0), (i1, j1) in itertools.pairwise(path):
        assert (i1 - i0, j1 - j0) in ((1, 0), (0, 1), (1, 1))
    if radius is not None:
        below, above = radius + max(0, n - m), radius + max(0, m - n)
        assert all(-below <= j - i <= above for i, j in path)


def brute_znorm(x: list[float]) -> list[float]:
    mean = sum(x) / len(x)
    std = math.sqrt(sum((v - mean) ** 2 for v in x) / len(x))
    return [(v - mean) / std for v in x]


@settings(max_examples=300, deadline=None)
@given(a=series, b=series, radius=radii)
def test_distance_matches_the_full_matrix(a, b, radius):
    # Unequal lengths and any radius: the band is widened by the length difference.
    assert dtw_distance(a, b, window=radius) == pytest.approx(brute_dtw(a, b, radius),
                                                              rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(pair=multivariate_pairs(), radius=radii)
def test_multivariate_distance_matches_the_full_matrix(pair, radius):
    a, b = pair
    expected = brute_dtw(a, b, radius)
    assert dtw_distance(a, b, window=radius) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert dtw_distance(np.array(a), np.array(b), window=radius, max_distance=1e9) == \
        pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(a=series, b=series, radius=radii)
def test_path_is_a_warping_path_whose_cost_is_the_distance(a, b, radius):
    distance, path = dtw_path(a, b, window=radius)
    assert distance == dtw_distance(a, b, window=radius)
    assert distance == pytest.approx(brute_dtw(a, b, radius), rel=1e-12, abs=1e-12)
    check_path(path, len(a), len(b), radius)
    # Summed in path order, the local costs give the accumulated cost bit for bit.
    # (diff * diff, as the kernels: Python's ** 2 can round differently.)
    total = 0.0
    for i, j in path:
        diff = a[i] - b[j]
        total += diff * diff
    assert math.sqrt(total) == distance


@settings(max_examples=150, deadline=None)
@given(pair=multivariate_pairs(), radius=radii)
def test_multivariate_path(pair, radius):
    a, b = pair
    distance, path = dtw_path(a, b, window=radius)
    assert distance == pytest.approx(brute_dtw(a, b, radius), rel=1e-12, abs=1e-12)
    check_path(path, len(a), len(b), radius)
    assert math.sqrt(sum(local_cost(a[i], b[j]) for i, j in path)) == pytest.approx(distance)


def test_long_series_agree_with_the_row_by_row_recurrence():
    # Long enough for the anti-diagonal kernel's vector loop and its band edges to matter.
    rng = np.random.default_rng(11)
    for n, m, radius in ((300, 300, None), (300, 300, 30), (257, 301, 7), (301, 256, 0)):
        a, b = rng.normal(size=n), rng.normal(size=m)
        below, above = radius_band(radius, n, m)
        exact = dtw_squared_abandoning(a, b, below, above, math.inf, np.empty(0))
        assert dtw_distance(a, b, window=radius) == math.sqrt(exact)
        assert dtw_path(a, b, window=radius)[0] == math.sqrt(exact)


def radius_band(radius: int | None, n: int, m: int) -> tuple[int, int]:
    if radius is None:
        return n, m
    return radius + max(0, n - m), radius + max(0, m - n)


@settings(max_examples=200, deadline=None)
@given(a=series, b=series, cap=st.floats(0, 30))
def test_early_abandoning_is_exact_below_the_cap_and_inf_above(a, b, cap):
    exact = brute_dtw(a, b)
    got = dtw_distance(a, b, max_distance=cap)
    # Above the cap the answer may be inf or exact; below it, always exact.
    if exact <= cap - 1e-9 or got != math.inf:
        assert got == pytest.approx(exact, abs=1e-9)


def test_agrees_with_dtaidistance():
    dtw = pytest.importorskip("dtaidistance.dtw")
    dtw_ndim = pytest.importorskip("dtaidistance.dtw_ndim")
    rng = np.random.default_rng(0)
    for _ in range(10):
        for n, m in ((50, 50), (40, 55), (61, 45)):
            a, b = rng.normal(size=n), rng.normal(size=m)
            ma, mb = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
            assert dtw_distance(a, b) == pytest.approx(dtw.distance_fast(a, b), rel=1e-12)
            assert dtw_distance(ma, mb) == pytest.approx(dtw_ndim.distance_fast(ma, mb),
                                                         rel=1e-12)
            # dtaidistance's window counts the diagonal: window=r+1 is our radius r. Its C
            # distance_fast (2.5.1) returns inf for some equal-length pairs at window=1, so
            # radius 0 is checked against its pure-Python distance.
            assert dtw_distance(a, b, window=0) == pytest.approx(
                dtw.distance(a, b, window=1, use_c=False), rel=1e-12)
            for radius in (0, 1, 5, 49):
                if radius:
                    assert dtw_distance(a, b, window=radius) == pytest.approx(
                        dtw.distance_fast(a, b, window=radius + 1), rel=1e-12)
                assert dtw_distance(ma, mb, window=radius) == pytest.approx(
                    dtw_ndim.distance_fast(ma, mb, window=radius + 1), rel=1e-12)


def test_window_zero_is_euclidean():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert dtw_distance(a, b, window=0) == pytest.approx(float(np.linalg.norm(a - b)))


@settings(max_examples=200, deadline=None)
@given(x=series, radius=st.integers(0, 5))
def test_envelope_matches_slicing(x, radius):
    upper, lower = envelope(x, radius)
    for k in range(len(x)):
        part = x[max(0, k - radius):k + radius + 1]
        assert upper[k] == max(part) and lower[k] == min(part)


@settings(max_examples=300, deadline=None)
@given(pair=st.integers(1, 14).flatmap(
    lambda n: st.tuples(st.lists(values, min_size=n, max_size=n),
                        st.lists(values, min_size=n, max_size=n))),
       radius=st.integers(0, 5))
def test_lower_bounds_never_exceed_the_distance(pair, radius):
    q, c = pair
    exact = brute_dtw(q, c, radius)
    assert lb_keogh(q, c, radius) <= exact + 1e-9
    assert lb_keogh(q, c, radius) <= dtw_distance(q, c, window=radius) + 1e-9
    assert lb_kim(q, c) <= brute_dtw(q, c) + 1e-9


@settings(max_examples=200, deadline=None)
@given(pair=st.tuples(st.integers(1, 10), st.integers(1, 3)).flatmap(
    lambda nd: st.tuples(*[st.lists(st.lists(values, min_size=nd[1], max_size=nd[1]),
                                    min_size=nd[0], max_size=nd[0])] * 2)),
       radius=st.integers(0, 4))
def test_multivariate_lb_keogh_never_exceeds_the_distance(pair, radius):
    q, c = pair
    bound = lb_keogh(q, c, radius)
    assert bound <= brute_dtw(q, c, radius) + 1e-9
    # And it is the per-dimension envelope bound, computed here by slicing.
    total = 0.0
    for k in range(len(q[0])):
        column = [row[k] for row in q]
        for i, row in enumerate(c):
            part = column[max(0, i - radius):i + radius + 1]
            total += max(row[k] - max(part), 0) ** 2 + max(min(part) - row[k], 0) ** 2
    assert bound == pytest.approx(math.sqrt(total), rel=1e-12, abs=1e-12)


def brute_best(stream: list[float], query: list[float], radius: int | None,
               normalize: bool) -> float:
    m = len(query)
    q = brute_znorm(query) if normalize else query
    best = math.inf
    for s in range(len(stream) - m + 1):
        window = stream[s:s + m]
        best = min(best, brute_dtw(q, brute_znorm(window) if normalize else window, radius))
    return best


@settings(max_examples=150, deadline=None)
@given(stream=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40),
       query=st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8),
       radius=st.one_of(st.none(), st.integers(0, 3)),
       normalize=st.booleans())
def test_search_finds_the_brute_force_best_at_every_step(stream, query, radius, normalize):
    # Continuous draws make flat windows (std 0) unlikely; those have their own test.
    if normalize and (np.std(query) < 1e-3 or any(
            np.std(stream[s:s + len(query)]) < 1e-3 for s in range(len(stream)))):
        return
    search = BestMatchSearch(query, window=radius, normalize=normalize)
    for t, x in enumerate(stream):
        search.update(x)
        expected = brute_best(stream[:t + 1], query, radius, normalize)
        best = search.best
        if expected == math.inf:
            assert best is None
            continue
        assert best is not None
        assert best.distance == pytest.approx(expected, rel=1e-6, abs=1e-6)
        window = stream[best.start:best.end + 1]
        q = brute_znorm(query) if normalize else query
        w = brute_znorm(window) if normalize else window
        assert brute_dtw(q, w, radius) == pytest.approx(best.distance, rel=1e-6, abs=1e-6)


def planted(n: int, seed: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """A random walk with a scaled, shifted, slightly warped copy of a query planted in it."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=n)) + offset
    query = np.sin(np.linspace(0, 3 * np.pi, 64)) + 0.3 * np.linspace(-1, 1, 64)
    warped = np.interp(np.linspace(0, 63, 64) ** 1.05 / 63 ** 0.05, np.arange(64), query)
    at = n // 2
    walk[at:at + 64] = 5.0 * warped + walk[at]
    return walk, query, at


def test_planted_pattern_is_found_and_most_candidates_are_pruned():
    walk, query, at = planted(20_000, seed=2)
    search = BestMatchSearch(query, window=6)
    search.update_many(walk)
    assert search.best is not None and search.best.start == at
    stats = search.pruning
    assert sum(stats.values()) == len(walk) - len(query) + 1
    # The point of the cascade: full DTW for a small fraction of the windows.
    assert stats["dtw"] < 0.05 * sum(stats.values())


def test_running_sums_stay_exact_far_from_zero():
    walk, query, at = planted(50_000, seed=3, offset=1e6)
    search = BestMatchSearch(query, window=6)
    search.update_many(walk)
    best = search.best
    assert best is not None and best.start == at
    window = walk[best.start:best.end + 1]
    assert best.distance == pytest.approx(
        dtw_distance(z_normalise(query), z_normalise(window), window=6), rel=1e-6)


def test_window_statistics_stay_exact_for_small_variations_far_from_zero():
    # 1e8 plus a wandering signal of std ~0.01: summing raw values and their squares would
    # cancel away every digit of the variance; summing around a shift keeps it.
    rng = np.random.default_rng(8)
    x = 1e8 + np.cumsum(rng.normal(0, 0.003, 3000))
    width = 50
    ring = np.zeros(width)
    moments = np.zeros(3)
    for t, v in enumerate(x):
        slide_window(ring, width, t, v, moments, 0)
        window = x[max(0, t - width + 1):t + 1]
        if len(window) < 2:
            continue
        mean, inv_std = window_mean_inverse_std(moments, 0, len(window))
        assert mean == pytest.approx(window.mean(), rel=1e-15)
        assert 1.0 / inv_std == pytest.approx(window.std(), rel=1e-6)


def test_small_shapes_on_a_large_offset_are_found():
    walk, query, at = planted(5000, seed=9)
    far = 1e7 + walk * 1e-3  # the same shapes, 1000x smaller, ten million away from zero
    near_zero, far_away = best_match(walk, query, window=6), best_match(far, query, window=6)
    assert near_zero is not None and far_away is not None
    assert far_away.start == near_zero.start == at
    # Storing 1e7 + 1e-3 * walk keeps about 6 digits of the walk, hence the tolerance.
    assert far_away.distance == pytest.approx(near_zero.distance, rel=1e-4)
    assert z_normalise(1e7 + np.array([0.0, 1e-3])) == pytest.approx([-1.0, 1.0], rel=1e-5)


def test_flat_windows_normalise_to_zero():
    search = BestMatchSearch([1.0, 2.0, 1.0], window=1)
    search.update_many([4.0, 4.0, 4.0, 4.0])
    # A flat window is all zeros after normalisation: distance is the query's norm.
    assert search.best == Match(0, 2, pytest.approx(math.sqrt(3.0)))


def test_update_and_update_many_agree():
    walk, query, _ = planted(3000, seed=4)
    one = BestMatchSearch(query, window=4)
    found = [one.update(float(x)) for x in walk]
    many = BestMatchSearch(query, window=4)
    improved = many.update_many(walk)
    assert improved == sum(f is not None for f in found)
    assert one.best == many.best and one.pruning == many.pruning


def test_pickle_mid_stream_resumes_identically():
    walk, query, _ = planted(4000, seed=5)
    reference = BestMatchSearch(query, window=5)
    expected = [reference.update(float(x)) for x in walk]
    for cut in (1, 63, 64, 65, 1000, 2017):
        search = BestMatchSearch(query, window=5)
        got = [search.update(float(x)) for x in walk[:cut]]
        search = pickle.loads(pickle.dumps(search))
        got += [search.update(float(x)) for x in walk[cut:]]
        assert got == expected
        assert search.pruning == reference.pruning


def test_best_match_is_the_batch_form():
    walk, query, at = planted(5000, seed=6)
    match = best_match(walk, query, window=6)
    assert match is not None and match.start == at and match.length == 64
    assert best_match([1.0, 2.0], [1.0, 2.0, 3.0]) is None


def test_invalid_input_is_named():
    with pytest.raises(ValueError, match="window must be None"):
        dtw_distance([1, 2], [1, 2], window=-1)
    with pytest.raises(ValueError, match="same d"):
        dtw_distance([[1, 2]], [[1, 2, 3]])
    with pytest.raises(ValueError, match="same d"):
        dtw_path([1.0, 2.0], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="max_distance must be >= 0"):
        dtw_distance([1, 2], [1, 2], max_distance=-1)
    with pytest.raises(ValueError, match="non-empty"):
        dtw_distance([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        dtw_distance([math.nan], [1.0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        BestMatchSearch([1.0])
    with pytest.raises(ValueError, match="finite"):
        BestMatchSearch([1.0, 2.0]).update(math.inf)
    with pytest.raises(ValueError, match="same shape"):
        lb_keogh([1, 2], [1, 2, 3], 1)


def test_unequal_lengths_use_the_widened_band():
    # Radius 0 with lengths 4 and 2: cells with -2 <= j - i <= 0 (dtaidistance's window=1).
    a, b = [1.0, 2.0, 3.0, 4.0], [1.0, 4.0]
    assert dtw_distance(a, b, window=0) == pytest.approx(math.sqrt(1 + 1))
    distance, path = dtw_path(a, b, window=0)
    assert distance == pytest.approx(math.sqrt(2)) and path == [(0, 0), (1, 0), (2, 1), (3, 1)]


@settings(max_examples=300, deadline=None)
@given(pair=st.integers(2, 14).flatmap(
    lambda n: st.tuples(st.lists(values, min_size=n, max_size=n),
                        st.lists(values, min_size=n, max_size=n))),
       radius=st.integers(0, 4), use_query_envelope=st.booleans())
def test_abandoning_with_a_cumulative_lb_keogh_keeps_the_exact_answer(pair, radius,
                                                                      use_query_envelope):
    # The UCR suite abandons when the row minimum plus the LB_Keogh of the columns not yet
    # reached exceeds the limit; with the limit just above the answer it must never abandon.
    q, c = (np.array(v) for v in pair)
    exact = brute_dtw(list(q), list(c), radius) ** 2
    if use_query_envelope:
        upper, lower = envelope(q, radius)
        terms = np.maximum(c - upper, 0) ** 2 + np.maximum(lower - c, 0) ** 2
    else:
        upper, lower = envelope(c, radius)
        terms = np.maximum(q - upper, 0) ** 2 + np.maximum(lower - q, 0) ** 2
    cb = np.cumsum(terms[::-1])[::-1].copy()
    got = dtw_squared_abandoning(q, c, radius, radius, exact * (1 + 1e-9) + 1e-12, cb)
    assert got == pytest.approx(exact, rel=1e-9, abs=1e-9)
