"""Tests for operators/lyapunov.py: accuracy on known chaos, honesty on the rest, streaming."""

from __future__ import annotations

import math
import pickle
import time
from functools import cache

import numpy as np
import pytest

from midstream.operators.lyapunov import (
    MIN_SAMPLES,
    LyapunovResult,
    SlidingLyapunov,
    divergence,
    largest_lyapunov,
    phase_randomised,
    scaling_region,
)
from tests.operators.dynamical_systems import (
    HENON_LLE,
    LN2,
    LORENZ_LLE,
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
# "Confidently chaotic" means confident with a value above this, per sample.
POSITIVE = 0.01


@cache
def lorenz_x(seed: int, n: int = 10_000) -> np.ndarray:
    return lorenz(n, dt=0.01, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("system", "reference", "dt"),
    [
        (lambda seed: logistic(10_000, seed=seed), LN2, 1.0),
        (lambda seed: henon(10_000, seed=seed), HENON_LLE, 1.0),
        (lorenz_x, LORENZ_LLE, 0.01),
    ],
    ids=["logistic", "henon", "lorenz"],
)
def test_known_exponents_within_five_percent_with_automatic_embedding(system, reference, dt,
                                                                     seed):
    result = largest_lyapunov(system(seed), dt=dt)
    assert result.confident, result.reason
    assert result.value == pytest.approx(reference, rel=0.05)
    assert result.r2 > 0.98


def test_the_scaling_region_skips_the_transient_that_fitting_from_zero_would_include():
    result = largest_lyapunov(lorenz_x(0), dt=0.01)
    start, end = result.fit_range
    assert 10 <= start < end
    curve = divergence(lorenz_x(0), result.lag, result.emb_dim, result.theiler, end + 1).curve
    from_zero = np.polyfit(np.arange(end + 1), curve[: end + 1], 1)[0] / 0.01
    assert from_zero > 1.08 * LORENZ_LLE  # the overestimate the rule avoids
    assert result.value == pytest.approx(LORENZ_LLE, rel=0.05)


def test_scaling_region_rule_on_a_synthetic_curve():
    k = np.arange(80.0)
    # A steep transient (k < 5), then slope 0.2 until saturation at 4.0.
    curve = np.minimum(np.where(k < 5, -6.0 + k, -1.0 + 0.2 * (k - 5)), 4.0)
    start, end = scaling_region(curve, reference=4.0, min_len=5)
    # The ceiling, 70% of the way from -6 to 4, is 1.0: the last point below it is k = 15.
    assert (start, end) == (5, 15)
    assert scaling_region(np.full(30, np.nan), 0.0, 5) == (-1, -1)


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.05])
@pytest.mark.parametrize("period", [7.3, 25.0, 61.0])
@pytest.mark.parametrize("n", [300, 2000, 8000])
def test_tones_are_never_confidently_chaotic(n, period, noise):
    for phase, x in enumerate((sine(n, period, phase=1.0), quasi_periodic(n, period, phase=2.0))):
        result = largest_lyapunov(add_noise(x, noise, seed=phase))
        assert not (result.confident and result.value > POSITIVE), result


@pytest.mark.parametrize("embedding", [(1, 2), (1, 4), (3, 3)])
def test_tones_are_never_confidently_chaotic_even_with_a_poor_embedding(embedding):
    lag, emb_dim = embedding
    for n in (150, 400, 3000):
        for x in (quasi_periodic(n, 41.9, ratio=2.5), add_noise(quasi_periodic(n, 97.0), 0.1),
                  add_noise(sine(n, 33.0), 0.05)):
            result = largest_lyapunov(x, lag=lag, emb_dim=emb_dim)
            assert not (result.confident and result.value > POSITIVE), result


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_is_not_a_confident_exponent(seed):
    for n in (250, 3000):
        for x in (white_noise(n, seed=seed), ar1(n, phi=0.9, seed=seed),
                  np.cumsum(white_noise(n, seed=seed))):
            assert not largest_lyapunov(x).confident


def test_confidence_can_be_lost_to_the_surrogate_check():
    # A noisy slow two-tone signal with a lag-1 embedding passes every curve
    # check; only the surrogate, which has the same spectrum, exposes it.
    x = add_noise(quasi_periodic(2000, 104.9, phase=2.0), 0.1, seed=9)
    result = largest_lyapunov(x)
    assert not result.confident
    assert "surrogate" in result.reason
    surrogate = phase_randomised(x)
    assert np.allclose(np.abs(np.fft.rfft(surrogate)), np.abs(np.fft.rfft(x)))


@pytest.mark.parametrize(
    ("x", "reason"),
    [
        (np.zeros(0), "too short"),
        (np.ones(MIN_SAMPLES - 1), "too short"),
        (np.full(500, 3.0), "constant"),
        (np.r_[logistic(500)[:250], math.nan, logistic(500)[251:]], "NaN"),
        (np.r_[logistic(500)[:250], math.inf, logistic(500)[251:]], "NaN or inf"),
        (np.r_[np.zeros(300), 1.0], ""),
    ],
    ids=["empty", "short", "constant", "nan", "inf", "spike"],
)
def test_degenerate_input_gives_a_non_confident_result_without_raising(x, reason):
    result = largest_lyapunov(x)
    assert not result.confident
    assert reason in result.reason


def test_slow_signals_too_short_for_their_own_embedding_are_not_analysed():
    result = largest_lyapunov(np.sin(np.arange(120) / 30.0), lag=20, emb_dim=5)
    assert not result.confident and math.isnan(result.value)
    assert "too short" in result.reason


def test_invalid_arguments_raise_and_name_the_valid_values():
    x = logistic(500)
    for kwargs, match in (({"dt": 0.0}, "dt must be"), ({"dt": math.inf}, "dt must be"),
                          ({"lag": 0}, "lag must be"), ({"emb_dim": 0}, "emb_dim must be"),
                          ({"theiler": -1}, "theiler must be")):
        with pytest.raises(ValueError, match=match):
            largest_lyapunov(x, **kwargs)
    with pytest.raises(ValueError, match="one-dimensional"):
        largest_lyapunov(np.ones((200, 2)))
    with pytest.raises(ValueError, match="window must be >= 100"):
        SlidingLyapunov(window=50, every=10)
    with pytest.raises(ValueError, match="every must be >= 1"):
        SlidingLyapunov(window=300, every=0)


def test_offset_and_scale_do_not_change_the_result_even_at_the_limits_of_float64():
    x = henon(3000)
    expected = largest_lyapunov(x)
    assert expected.confident
    for y in (x * 1e300, x * 1e-300, 3.0 - 5.0 * x, x + 1e6):
        result = largest_lyapunov(y)
        assert result.confident
        assert result.value == pytest.approx(expected.value, rel=1e-6)
        assert (result.lag, result.emb_dim, result.fit_range) == (
            expected.lag, expected.emb_dim, expected.fit_range)


def test_value_is_per_time_unit_and_explicit_parameters_are_used():
    x = henon(4000)
    per_step = largest_lyapunov(x, lag=1, emb_dim=2, theiler=5)
    per_unit = largest_lyapunov(x, dt=0.5, lag=1, emb_dim=2, theiler=5)
    assert (per_step.lag, per_step.emb_dim, per_step.theiler) == (1, 2, 5)
    assert per_unit.value == pytest.approx(2.0 * per_step.value)
    assert per_unit.fit_range == per_step.fit_range
    assert isinstance(per_step, LyapunovResult)


def test_sliding_window_reports_on_schedule_and_matches_the_batch_function():
    x = logistic(1500, seed=4)
    sliding = SlidingLyapunov(window=400, every=100)
    results = []
    for i, value in enumerate(x):
        result = sliding.update(value)
        assert (result is not None) == ((i + 1) % 100 == 0)
        if result is not None:
            results.append(result)
    assert len(results) == 15
    assert results[-1] == largest_lyapunov(x[-400:])
    assert results[1] == largest_lyapunov(x[:200])
    assert not results[0].confident or results[0].value > 0.5  # 100 samples: anything honest
    assert np.array_equal(sliding.values(), x[-400:])
    confident = [r.value for r in results[3:] if r.confident]
    assert len(confident) >= 10
    assert np.allclose(confident, LN2, rtol=0.06)


def test_sliding_window_batches_return_the_list_of_results_due():
    x = henon(1000, seed=1)
    one_by_one = SlidingLyapunov(window=300, every=70)
    batched = SlidingLyapunov(window=300, every=70)
    expected = [r for r in (one_by_one.update(v) for v in x) if r is not None]
    got = batched.update(x[:333]) + batched.update(list(x[333:500])) + batched.update(x[500:])
    assert got == expected
    assert batched.update(np.array([])) == []
    assert batched.samples_seen == 1000


def test_sliding_window_pickles_and_resumes_identically():
    x = np.r_[henon(700, seed=2), add_noise(sine(500, 19.0), 0.02)]
    make = lambda: SlidingLyapunov(window=250, every=60, dt=0.5)  # noqa: E731
    reference = make()
    expected = [reference.update(v) for v in x]
    for cut in (0, 1, 249, 250, 251, 600, 1199):
        state = make()
        got = [state.update(v) for v in x[:cut]]
        state = pickle.loads(pickle.dumps(state))
        got += [state.update(v) for v in x[cut:]]
        assert got == expected


def test_streaming_windows_are_fast():
    x = lorenz_x(1, 3000)
    sliding = SlidingLyapunov(window=400, every=40, dt=0.01)
    sliding.update(x[:400])  # warm-up
    started = time.perf_counter()
    results = sliding.update(x[400:])
    per_result = (time.perf_counter() - started) / len(results)
    assert len(results) == 65
    assert per_result < 0.05  # typically ~3 ms; generous for a shared CI machine
    assert not any(r.confident for r in results)  # 4 time units cannot show Lorenz chaos
