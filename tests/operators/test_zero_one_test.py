"""Tests for operators/zero_one_test.py: the kernel against a NumPy port of the 2009 algorithm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.zero_one_test import C_HIGH, C_LOW, zero_one_k_values, zero_one_test
from tests.operators.dynamical_systems import (
    henon,
    logistic,
    lorenz,
    period_k_map,
    quasi_periodic,
    sine,
    white_noise,
)


def reference_k_values(x: np.ndarray, cs: np.ndarray, n_cut: int) -> np.ndarray:
    """Line for line the algorithm of P. Matthews' z1test.m (Gottwald & Melbourne 2009)."""
    n = x.shape[0]
    j = np.arange(1, n + 1)
    t = np.arange(1, n_cut + 1)
    out = np.empty(cs.shape[0])
    for i, c in enumerate(cs):
        p = np.cumsum(x * np.cos(j * c))
        q = np.cumsum(x * np.sin(j * c))
        m = np.array([
            np.mean((p[lag:] - p[:-lag]) ** 2 + (q[lag:] - q[:-lag]) ** 2)
            - np.mean(x) ** 2 * (1 - np.cos(lag * c)) / (1 - np.cos(c))
            for lag in t
        ])
        out[i] = np.corrcoef(t, m)[0, 1]
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(40, 400),
    seed=st.integers(0, 1000),
    kind=st.sampled_from(["noise", "logistic", "sine", "offset sine"]),
)
def test_kernel_equals_the_reference_algorithm(n, seed, kind):
    x = {
        "noise": white_noise(n, seed=seed),
        "logistic": logistic(n, seed=seed),
        "sine": sine(n, period=3 + seed % 40),
        "offset sine": 5.0 + sine(n, period=3 + seed % 40),
    }[kind]
    n_cut = n // 10
    cs = np.random.default_rng(seed).uniform(C_LOW, C_HIGH, 12)
    got = zero_one_k_values(x, n_c=12, seed=seed)
    np.testing.assert_allclose(got, reference_k_values(x, cs, n_cut), atol=1e-8)


@pytest.mark.parametrize(("name", "x", "downsample"), [
    ("logistic r=4", logistic(3000), 1),
    ("Hénon", henon(3000), 1),
    ("Lorenz dt=0.1", lorenz(3000, dt=0.1), 1),
])
def test_chaotic_systems_give_k_near_one(name, x, downsample):
    assert zero_one_test(x, downsample=downsample) > 0.9, name


@pytest.mark.parametrize(("name", "x"), [
    ("sine", sine(3000, period=17.3)),
    ("period-5 map", period_k_map(3000, 5)),
    ("two tones", quasi_periodic(3000, period=23.0)),
    ("logistic r=3.5 (period 4)", logistic(3000, r=3.5)),
])
def test_regular_dynamics_give_k_near_zero(name, x):
    assert zero_one_test(x) < 0.1, name


def test_k_is_scale_invariant_and_nearly_offset_invariant():
    x = logistic(1000, seed=3)
    k = zero_one_test(x)
    assert zero_one_test(-7.5 * x) == pytest.approx(k, abs=1e-12)
    assert zero_one_test(x + 100.0) == pytest.approx(k, abs=0.02)
    assert zero_one_test(sine(1000, period=11.0) + 100.0) < 0.1


def test_oversampled_flow_needs_downsampling():
    x = lorenz(2000, dt=0.01)
    assert zero_one_test(x) < 0.5            # oversampled: looks regular at short lags
    assert zero_one_test(x, downsample=10) > 0.8


def test_repeatable_for_a_seed_and_input_validation():
    x = white_noise(500)
    assert zero_one_test(x, seed=4) == zero_one_test(x, seed=4)
    with pytest.raises(ValueError, match="n_c must be >= 1"):
        zero_one_test(x, n_c=0)
    with pytest.raises(ValueError, match="downsample must be an integer >= 1"):
        zero_one_test(x, downsample=0)
    with pytest.raises(ValueError, match="finite"):
        zero_one_test(np.array([1.0, np.nan] * 50))
    with pytest.raises(ValueError, match="n_cut"):
        zero_one_test(x[:2])
