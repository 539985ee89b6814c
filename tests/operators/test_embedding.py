"""Tests for operators/embedding.py: AMI delay and Cao dimension on systems with known answers."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from midstream.operators.embedding import (
    cao_ratios,
    delay_embedding,
    embedding_dimension,
    histogram_bins,
    mean_period,
    mutual_information,
    mutual_information_lag,
)
from tests.operators.dynamical_systems import (
    add_noise,
    ar1,
    henon,
    logistic,
    lorenz,
    quasi_periodic,
    sine,
    white_noise,
)

SEEDS = (0, 1, 2)


@cache
def lorenz_x(seed: int) -> np.ndarray:
    return lorenz(10_000, dt=0.01, seed=seed)


def test_mutual_information_of_a_series_with_itself_is_its_entropy():
    x = white_noise(5000)
    bins = 16
    ami = mutual_information(x, 3, bins=bins)
    counts = np.histogram(x, bins=bins)[0] / x.size
    entropy = -(counts[counts > 0] * np.log(counts[counts > 0])).sum()
    assert ami[0] == pytest.approx(entropy, rel=1e-9)
    # Independent samples: only the plug-in bias, about (b - 1)**2 / 2n nats.
    assert 0.0 < ami[1] < 3 * (bins - 1) ** 2 / (2 * x.size)


def test_mutual_information_ignores_offset_and_scale_and_constants_have_none():
    x = henon(3000)
    assert np.allclose(mutual_information(x, 10), mutual_information(3.0 * x - 7.0, 10))
    assert not mutual_information(np.full(100, 2.5), 5).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_lorenz_delay_is_the_first_ami_minimum_near_a_sixth_of_a_time_unit(seed):
    # x of Lorenz at dt = 0.01: the first AMI minimum is at 0.10-0.17 time units
    # (Abarbanel's Analysis of Observed Chaotic Data quotes about 0.1-0.2).
    lag = mutual_information_lag(lorenz_x(seed))
    assert 10 <= lag <= 18
    ami = mutual_information(lorenz_x(seed), lag + 1)
    assert ami[lag] < ami[lag - 1] and ami[lag] < ami[lag + 1]


@pytest.mark.parametrize("period", [12.0, 25.0, 40.0, 77.0])
def test_tones_get_a_delay_of_a_fraction_of_their_period(period):
    # A noisy sine's AMI falls with its correlation to a minimum at a quarter
    # period. (A clean sine's binned AMI is a staircase with no real minimum.)
    lag = mutual_information_lag(add_noise(sine(8000, period), 0.1))
    assert abs(lag - period / 4) <= period / 8
    assert period / 10 <= mutual_information_lag(quasi_periodic(8000, period)) <= period / 2


@pytest.mark.parametrize("seed", SEEDS)
def test_maps_and_noise_whose_ami_decays_without_a_minimum_get_delay_one(seed):
    for x in (logistic(10_000, seed=seed), henon(10_000, seed=seed),
              white_noise(5000, seed=seed), ar1(5000, seed=seed)):
        assert mutual_information_lag(x) == 1


@pytest.mark.parametrize("max_lag", [10, 20])
def test_without_a_minimum_or_decay_the_delay_is_where_ami_falls_below_a_third(max_lag):
    x = add_noise(sine(4000, 400.0), 0.05)  # AMI falls slowly over the first 20 lags
    ami = mutual_information(x, max_lag + 1)
    assert np.all(np.diff(ami) < 0)
    below = np.nonzero(ami[1:] < ami[0] / math.e)[0]
    expected = int(below[0]) + 1 if below.size else max_lag
    assert mutual_information_lag(x, max_lag=max_lag) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_henon_needs_two_dimensions(seed):
    assert embedding_dimension(henon(10_000, seed=seed), lag=1) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_lorenz_needs_three_dimensions(seed):
    x = lorenz_x(seed)
    assert embedding_dimension(x, lag=mutual_information_lag(x)) == 3


def test_logistic_map_needs_at_most_two_and_a_two_torus_at_least_three():
    assert embedding_dimension(logistic(10_000), lag=1) <= 2
    x = quasi_periodic(8000)
    assert embedding_dimension(x, lag=mutual_information_lag(x)) >= 3


def test_noise_does_not_saturate_cao_e1_early_and_its_e2_stays_near_one():
    x = white_noise(4000)
    assert embedding_dimension(x, lag=1, max_dim=6) >= 5
    e1, e2 = cao_ratios(x, lag=1, max_dim=4)
    assert np.all(np.abs(e2 - 1.0) < 0.1)
    assert e1[0] < 0.5
    _, henon_e2 = cao_ratios(henon(4000), lag=1, max_dim=4)
    assert abs(henon_e2[0] - 1.0) > 0.5  # determinism: E2 departs from 1


def test_delay_embedding_and_mean_period():
    emb = delay_embedding(np.arange(10.0), lag=3, dim=3)
    assert emb.shape == (4, 3)
    assert emb[1].tolist() == [1.0, 4.0, 7.0]
    assert mean_period(sine(5000, 20.0)) == pytest.approx(20.0, rel=1e-3)
    assert mean_period(np.ones(50)) == math.inf
    assert histogram_bins(1000) == 10


def test_invalid_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match="one-dimensional"):
        mutual_information(np.ones((3, 3)), 1)
    with pytest.raises(ValueError, match="max_lag must be in"):
        mutual_information(np.ones(10), 10)
    with pytest.raises(ValueError, match="at least 8"):
        mutual_information_lag([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        mutual_information([1.0, math.nan, 2.0], 1)
    with pytest.raises(ValueError, match=">= 1"):
        embedding_dimension(henon(500), lag=0)
    with pytest.raises(ValueError, match="threshold"):
        embedding_dimension(henon(500), lag=1, threshold=1.5)
    with pytest.raises(ValueError, match="too short"):
        delay_embedding([1.0, 2.0], lag=2, dim=3)
