"""Tests for operators/spectral_lines.py: line counts, frequencies and the harmonic test."""

from __future__ import annotations

import numpy as np
import pytest

from midstream.operators.spectral_lines import spectral_lines
from tests.operators.dynamical_systems import (
    add_noise,
    henon,
    logistic,
    period_k_map,
    quasi_periodic,
    sine,
    white_noise,
)


@pytest.mark.parametrize("period", [3.3, 7.0, 12.5, 25.0, 41.7, 60.0])
def test_a_sine_is_one_line_at_its_frequency(period):
    s = spectral_lines(add_noise(sine(300, period=period, phase=1.0), 0.1, seed=2))
    assert s.count == 1
    assert s.frequencies[0] == pytest.approx(1 / period, abs=0.05 / 300)
    assert s.line_fraction > 0.95
    assert s.fundamental == pytest.approx(1 / period, abs=0.05 / 300)


@pytest.mark.parametrize("k", range(2, 9))
def test_a_period_k_map_is_harmonic_of_one_over_k(k):
    s = spectral_lines(add_noise(period_k_map(300, k, seed=k), 0.05, seed=k))
    assert 1 <= s.count <= k // 2
    assert s.line_fraction > 0.95
    assert s.fundamental is not None
    period = 1 / s.fundamental
    assert min(abs(period - k / d) for d in range(1, k + 1) if k % d == 0) < 1e-3
    assert all(min(abs(f * k - round(f * k)), 1) < 0.01 for f in s.frequencies)


@pytest.mark.parametrize("ratio", [(1 + 5 ** 0.5) / 2, 2 ** 0.5, np.e / 2, np.pi / 2])
def test_two_incommensurate_tones_have_no_fundamental(ratio):
    s = spectral_lines(quasi_periodic(300, period=21.0, ratio=ratio))
    assert s.count == 2
    assert s.fundamental is None
    assert s.harmonic_error > 0.5
    assert sorted(s.frequencies) == pytest.approx([1 / 21.0, ratio / 21.0], abs=0.02 / 300)


@pytest.mark.parametrize("name", ["white noise", "logistic", "henon"])
def test_broadband_signals_have_many_lines_and_little_line_power(name):
    x = {"white noise": white_noise(300), "logistic": logistic(300), "henon": henon(300)}[name]
    s = spectral_lines(x, max_lines=12)
    assert s.count == 12
    assert s.line_fraction < 0.85


def test_invariant_under_affine_maps():
    x = quasi_periodic(200, period=13.0)
    s = spectral_lines(x)
    t = spectral_lines(-3e5 * x + 42.0)
    assert t.count == s.count
    np.testing.assert_allclose(t.frequencies, s.frequencies, atol=1e-9)
    assert t.line_fraction == pytest.approx(s.line_fraction, abs=1e-9)


def test_constant_and_short_input():
    assert spectral_lines(np.full(50, 3.0)).count == 0
    with pytest.raises(ValueError, match="at least 8 samples"):
        spectral_lines(np.ones(5))
