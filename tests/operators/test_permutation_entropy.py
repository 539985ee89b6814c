"""Tests for operators/permutation_entropy.py: batch vs the definition, incremental vs batch."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.permutation_entropy import PermutationEntropy, permutation_entropy
from tests.operators.dynamical_systems import logistic, white_noise


def reference_entropy(x: list[float], order: int, delay: int, normalize: bool) -> float:
    """Straight from Bandt & Pompe: count argsort patterns (ties by order of occurrence)."""
    counts: dict[tuple[int, ...], int] = {}
    span = (order - 1) * delay
    for t in range(len(x) - span):
        pattern = tuple(np.argsort([x[t + i * delay] for i in range(order)], kind="stable"))
        counts[pattern] = counts.get(pattern, 0) + 1
    total = sum(counts.values())
    if total == 0:
        return math.nan
    h = -sum(c / total * math.log(c / total) for c in counts.values())
    return h / math.log(math.factorial(order)) if normalize else h


@settings(max_examples=300, deadline=None)
@given(
    x=st.lists(st.integers(-3, 3).map(float), min_size=0, max_size=60),
    order=st.integers(2, 6),
    delay=st.integers(1, 3),
    normalize=st.booleans(),
)
def test_batch_equals_the_definition_including_ties(x, order, delay, normalize):
    got = permutation_entropy(np.array(x), order, delay, normalize)
    want = reference_entropy(x, order, delay, normalize)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, abs=1e-12)


def test_the_papers_example_and_known_values():
    # Bandt & Pompe 2002: x = (4, 7, 9, 10, 6, 11, 3), order 3: two patterns seen twice, one
    # once, H = -2 (2/5) log2(2/5) - (1/5) log2(1/5) = 1.5219 bits.
    h_bits = permutation_entropy([4, 7, 9, 10, 6, 11, 3], order=3, normalize=False) / math.log(2)
    assert h_bits == pytest.approx(1.5219, abs=1e-4)
    assert permutation_entropy(np.arange(100.0), order=5) == 0.0
    assert permutation_entropy(white_noise(50_000, seed=1), order=4) > 0.999
    # The logistic map at r=4 never shows the decreasing triple (a forbidden pattern), so its
    # order-3 entropy is at most log 5 / log 6, while noise reaches log 6 / log 6.
    h = permutation_entropy(logistic(100_000), order=3)
    assert 0.8 < h < math.log(5) / math.log(6)


@pytest.mark.parametrize(("order", "delay", "window"),
                         [(2, 1, 2), (3, 1, 7), (3, 2, 20), (4, 1, 50), (5, 3, 40), (7, 1, 100)])
@pytest.mark.parametrize("data", ["ties", "continuous"])
def test_incremental_equals_batch_at_every_step(order, delay, window, data):
    rng = np.random.default_rng(order * 100 + delay)
    x = (rng.integers(0, 4, 400).astype(float) if data == "ties" else rng.normal(size=400))
    pe = PermutationEntropy(order, window, delay)
    for t in range(x.shape[0]):
        got = pe.update(x[t])
        want = permutation_entropy(x[max(0, t - window + 1) : t + 1], order, delay)
        if math.isnan(want):
            assert math.isnan(got), t
        else:
            assert got == pytest.approx(want, abs=1e-9), t


def test_batches_and_single_samples_agree():
    x = np.random.default_rng(4).normal(size=1000)
    one = PermutationEntropy(4, 64, 2)
    singles = [one.update(v) for v in x]
    other = PermutationEntropy(4, 64, 2)
    cuts = [0, 1, 5, 70, 71, 300, 1000]
    for a, b in itertools.pairwise(cuts):
        got = other.update(x[a:b])
        assert got == singles[b - 1] or (math.isnan(got) and math.isnan(singles[b - 1]))
    assert other.samples_seen == 1000


def test_pickle_round_trip_resumes_identically():
    x = np.random.default_rng(5).normal(size=300)
    reference = PermutationEntropy(5, 40, 2)
    expected = [reference.update(v) for v in x]
    for cut in range(0, 300, 23):
        pe = PermutationEntropy(5, 40, 2)
        got = [pe.update(v) for v in x[:cut]]
        pe = pickle.loads(pickle.dumps(pe))
        got += [pe.update(v) for v in x[cut:]]
        np.testing.assert_array_equal(got, expected)  # bit for bit; NaN equals NaN


def test_invariant_under_increasing_maps_and_negation_without_ties():
    x = np.random.default_rng(6).normal(size=500)
    h = permutation_entropy(x, order=4)
    assert permutation_entropy(np.exp(x), order=4) == h
    assert permutation_entropy(-x, order=4) == pytest.approx(h, abs=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"order": 1}, "order must be an integer in 2..8"),
    ({"order": 9}, "order must be an integer in 2..8"),
    ({"delay": 0}, "delay must be an integer >= 1"),
    ({"order": 4, "window": 3}, "window must be >= "),
])
def test_constructor_names_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PermutationEntropy(**kwargs)


def test_non_finite_samples_raise_and_leave_the_state_unchanged():
    pe = PermutationEntropy(order=3, window=10)
    pe.update([1.0, 3.0, 2.0, 5.0])
    before = pickle.dumps(pe)
    for bad in (math.nan, -math.inf, np.array([1.0, np.nan])):
        with pytest.raises(ValueError, match="finite"):
            pe.update(bad)
        assert pickle.dumps(pe) == before
    with pytest.raises(ValueError, match="finite"):
        permutation_entropy([1.0, math.nan, 2.0, 3.0])


def test_value_is_nan_before_the_first_pattern():
    pe = PermutationEntropy(order=4, window=10)
    assert math.isnan(pe.value)
    assert math.isnan(pe.update([1.0, 2.0, 3.0]))
    assert pe.update(4.0) == 0.0
