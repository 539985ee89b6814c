"""Tests for operators/regime.py: accuracy on a labelled suite, invariance, streaming monitor."""

from __future__ import annotations

import itertools
import json
import math
import pickle
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midstream.operators.regime import (
    CHAOTIC,
    FIXED_POINT,
    KINDS,
    MIN_LENGTH,
    NOISE,
    PERIODIC,
    QUASI_PERIODIC,
    RegimeMonitor,
    RegimeResult,
    classify,
)
from tests.operators.dynamical_systems import (
    add_noise,
    ar1,
    damped_oscillation,
    henon,
    logistic,
    lorenz,
    period_k_map,
    quasi_periodic,
    sine,
    white_noise,
)

NOISE_FRACTIONS = (0.0, 0.02, 0.05, 0.1)
# Fixed points: noise as a fraction of the transient's amplitude (at most 1 %).
TRANSIENT_NOISE = (0.0, 0.002, 0.005, 0.01)
IRRATIONAL_RATIOS = ((1 + 5 ** 0.5) / 2, 2 ** 0.5, math.e / 2, math.pi / 2)

Case = tuple[str, str, np.ndarray, float]  # label, generator, window, dt


@lru_cache(maxsize=64)
def _lorenz(n: int, seed: int) -> np.ndarray:
    return lorenz(n, dt=0.1, seed=seed)


def labelled_suite(n: int = 300, seeds: int = 10) -> Iterator[Case]:
    """The labelled reference windows: per seed, 8 fixed points and 8 of each other generator.

    Fixed points: damped oscillations (period 8..40, decay 0.03..0.1, random phase) and the
    logistic map at r=2.8 from its first iterate, with Gaussian noise of 0, 0.2, 0.5 and 1 %
    of the transient's amplitude. Everything else at each noise fraction of
    ``NOISE_FRACTIONS`` (``add_noise``): sines (period 3.3..60, random phase), period-k maps
    (k = 2..8), two tones with an irrational ratio (period 8..40), logistic r=4, Hénon,
    Lorenz x at dt=0.1, white noise, AR(1) with phi in 0.3..0.8.
    """
    for s in range(seeds):
        rng = np.random.default_rng(1000 + s)
        for amp_noise in TRANSIENT_NOISE:
            noise = np.random.default_rng(s + 11).normal(0.0, 1.0, n)
            x = damped_oscillation(n, period=rng.uniform(8, 40), decay=rng.uniform(0.03, 0.1),
                                   phase=rng.uniform(0, 2 * np.pi))
            yield FIXED_POINT, "damped oscillation", x + amp_noise * noise, 1.0
            y = logistic(n, r=2.8, seed=s, transient=0)
            amplitude = float(np.max(np.abs(y - y[-1])))
            yield FIXED_POINT, "logistic r=2.8", y + amp_noise * amplitude * noise[::-1], 1.0
        for f in NOISE_FRACTIONS:
            k = int(rng.integers(2, 9))
            cases: list[Case] = [
                (PERIODIC, "sine",
                 sine(n, period=rng.uniform(3.3, 60), phase=rng.uniform(0, 2 * np.pi)), 1.0),
                (PERIODIC, "period-k map", period_k_map(n, k, seed=s), 1.0),
                (QUASI_PERIODIC, "two tones",
                 quasi_periodic(n, period=rng.uniform(8, 40), ratio=IRRATIONAL_RATIOS[s % 4],
                                phase=rng.uniform(0, 2 * np.pi)), 1.0),
                (CHAOTIC, "logistic r=4", logistic(n, seed=s), 1.0),
                (CHAOTIC, "Hénon", henon(n, seed=s), 1.0),
                (CHAOTIC, "Lorenz dt=0.1", _lorenz(n, s), 0.1),
                (NOISE, "white noise", white_noise(n, seed=s), 1.0),
                (NOISE, "AR(1)", ar1(n, phi=rng.uniform(0.3, 0.8), seed=s), 1.0),
            ]
            for label, name, x, dt in cases:
                yield label, name, add_noise(x, f, seed=s), dt


def short_suite(n: int = 48, seeds: int = 20) -> Iterator[Case]:
    """Short windows: sines (period 3.3..n/4), period-k maps k = 2..8, logistic r=4, Hénon,
    white noise and AR(1), each at 0, 2 and 5 % noise."""
    for s in range(seeds):
        rng = np.random.default_rng(500 + s)
        for f in (0.0, 0.02, 0.05):
            cases: list[Case] = [
                (PERIODIC, "sine",
                 sine(n, period=rng.uniform(3.3, n / 4), phase=rng.uniform(0, 2 * np.pi)), 1.0),
                *[(PERIODIC, f"period-{k} map", period_k_map(n, k, seed=s), 1.0)
                  for k in range(2, 9)],
                (CHAOTIC, "logistic r=4", logistic(n, seed=s), 1.0),
                (CHAOTIC, "Hénon", henon(n, seed=s), 1.0),
                (NOISE, "white noise", white_noise(n, seed=s), 1.0),
                (NOISE, "AR(1)", ar1(n, phi=rng.uniform(0.3, 0.8), seed=s), 1.0),
            ]
            for label, name, x, dt in cases:
                yield label, name, add_noise(x, f, seed=s), dt


def confusion(cases: Iterator[Case]) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """Counts of (true, predicted) and of misses per generator; misses made with
    confidence are also counted under ``"confident misses"``."""
    matrix: Counter[tuple[str, str]] = Counter()
    misses: Counter[str] = Counter()
    for label, name, x, dt in cases:
        result = classify(x, dt=dt)
        matrix[label, result.kind] += 1
        if result.kind != label:
            misses[f"{name} -> {result.kind}"] += 1
            misses["confident misses"] += result.confident
    return matrix, misses


def format_confusion(matrix: Counter[tuple[str, str]]) -> str:
    """Markdown table: rows are true regimes, columns predicted, last column accuracy."""
    lines = ["| true \\ predicted | " + " | ".join(KINDS) + " | accuracy |",
             "|---" * (len(KINDS) + 2) + "|"]
    for true in KINDS:
        total = sum(matrix[true, k] for k in KINDS)
        if total == 0:
            continue
        row = " | ".join(str(matrix[true, k]) for k in KINDS)
        lines.append(f"| {true} | {row} | {matrix[true, true] / total:.1%} |")
    return "\n".join(lines)


def accuracy(matrix: Counter[tuple[str, str]], kinds: tuple[str, ...] = KINDS) -> float:
    total = sum(v for (true, _), v in matrix.items() if true in kinds)
    return sum(matrix[k, k] for k in kinds) / total


def test_at_least_95_percent_on_the_labelled_suite_of_300_sample_windows():
    matrix, misses = confusion(labelled_suite(300, seeds=10))
    report = f"\n{format_confusion(matrix)}\nmisses: {dict(misses)}"
    assert sum(matrix.values()) == 400
    assert accuracy(matrix) >= 0.95, report
    for kind in KINDS:  # and no regime sacrificed for the average
        assert accuracy(matrix, (kind,)) >= 0.9, report
    assert misses["confident misses"] <= 2, report


def test_48_sample_windows_tell_periodic_from_chaotic_from_noise():
    matrix, misses = confusion(short_suite(48, seeds=20))
    report = f"\n{format_confusion(matrix)}\nmisses: {dict(misses)}"
    assert accuracy(matrix, (PERIODIC, CHAOTIC)) >= 0.95, report
    assert accuracy(matrix, (NOISE,)) >= 0.9, report
    assert misses["confident misses"] <= 2, report


def test_shuffling_destroys_the_dynamics():
    # Same values, no dynamics: the surrogate test must call it noise.
    x = logistic(300, seed=3)
    assert classify(x).kind == CHAOTIC
    assert classify(np.random.default_rng(0).permutation(x)).kind == NOISE
    y = period_k_map(300, 6, seed=2)
    assert classify(y).kind == PERIODIC
    assert classify(np.random.default_rng(0).permutation(y)).kind == NOISE


@pytest.mark.parametrize("levels", [3, 5, 10])
def test_quantised_noise_is_still_noise(levels):
    # Ties make a naive ordinal-pattern test see order in noise; the surrogates share them.
    for seed in range(10):
        x = np.round(levels / 4 * white_noise(300, seed=seed))
        assert classify(x).kind == NOISE, seed
        y = np.round(levels / 4 * ar1(300, phi=0.7, seed=seed))
        assert classify(y).kind == NOISE, seed


@pytest.mark.parametrize("drift", [0.0, 4.0, 30.0, 1000.0])
def test_a_linear_drift_does_not_change_the_regime_of_the_fluctuations(drift):
    ramp = drift * np.linspace(0.0, 1.0, 300)
    for seed in range(5):
        for x, kind in [(white_noise(300, seed=seed), NOISE),
                        (add_noise(period_k_map(300, 5, seed=seed), 0.05, seed=seed), PERIODIC),
                        (add_noise(sine(300, period=9.0 + seed), 0.05, seed=seed), PERIODIC),
                        (logistic(300, seed=seed), CHAOTIC), (henon(300, seed=seed), CHAOTIC)]:
            z = (x - x.mean()) / x.std()
            r = classify(z + ramp)
            assert r.kind == kind, (drift, seed, kind, r.scores)


def test_a_straight_line_is_a_fixed_point_without_confidence():
    r = classify(3.0 - 0.25 * np.arange(100.0))
    assert r.kind == FIXED_POINT and not r.confident
    assert r.scores["trend_r2"] == pytest.approx(1.0)


def test_reports_the_period_and_frequency_in_time_units():
    r = classify(sine(300, period=25.0), dt=0.5)
    assert r.kind == PERIODIC and r.confident
    assert r.scores["period"] == pytest.approx(12.5, rel=1e-3)
    assert r.scores["frequency"] == pytest.approx(0.08, rel=1e-3)
    assert classify(period_k_map(300, 7, seed=1)).scores["period"] == pytest.approx(7, rel=1e-3)


INVARIANCE_SIGNALS = {
    "fixed point": damped_oscillation(300, period=13.0, decay=0.06) + 0.005 * white_noise(300),
    "periodic": add_noise(period_k_map(300, 5, seed=4), 0.05, seed=4),
    "sine": add_noise(sine(300, period=17.7, phase=0.4), 0.1, seed=1),
    "quasi-periodic": add_noise(quasi_periodic(300, period=19.0), 0.05, seed=2),
    "chaotic": add_noise(henon(300, seed=5), 0.02, seed=5),
    "lorenz": lorenz(300, dt=0.1, seed=7),
    "noise": ar1(300, phi=0.6, seed=8),
    "short periodic": period_k_map(48, 6, seed=3),
    "short chaotic": logistic(48, seed=9),
    # Quantised data (latencies in whole milliseconds): ties everywhere.
    "quantised noise": np.round(4 * ar1(300, phi=0.5, seed=9)),
    "quantised chaotic": np.round(20 * logistic(300, seed=10)),
}
EXPECTED_KIND = {
    "fixed point": FIXED_POINT, "periodic": PERIODIC, "sine": PERIODIC,
    "quasi-periodic": QUASI_PERIODIC, "chaotic": CHAOTIC, "lorenz": CHAOTIC, "noise": NOISE,
    "short periodic": PERIODIC, "short chaotic": CHAOTIC,
    "quantised noise": NOISE, "quantised chaotic": CHAOTIC,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(INVARIANCE_SIGNALS)),
    log_scale=st.floats(-6.0, 6.0),
    negative=st.booleans(),
    offset=st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1e-9, -3.0]),
)
def test_verdict_is_invariant_under_affine_maps(name, log_scale, negative, offset):
    x = INVARIANCE_SIGNALS[name]
    a = (-1.0 if negative else 1.0) * 10.0 ** log_scale
    b = offset * abs(a)  # offsets up to a million times the signal's scale
    reference = classify(x)
    assert reference.kind == EXPECTED_KIND[name]
    assert classify(a * x + b).kind == reference.kind


def test_constant_input_is_a_confident_fixed_point():
    for value in (0.0, -2.5, 1e12):
        r = classify(np.full(100, value))
        assert r.kind == FIXED_POINT and r.confident


def test_invalid_input_raises():
    with pytest.raises(ValueError, match="finite"):
        classify(np.r_[white_noise(99), np.nan])
    with pytest.raises(ValueError, match="finite"):
        classify(np.r_[white_noise(99), np.inf])
    with pytest.raises(ValueError, match=f"at least {MIN_LENGTH} samples"):
        classify(np.ones(MIN_LENGTH - 1))
    with pytest.raises(ValueError, match="one-dimensional"):
        classify(np.ones((20, 2)))
    with pytest.raises(ValueError, match="dt must be > 0"):
        classify(white_noise(50), dt=0.0)


def test_scores_are_json_serialisable_and_documented():
    for _, _, x, dt in labelled_suite(300, seeds=1):
        r = classify(x, dt=dt)
        assert r.kind in KINDS
        assert isinstance(r.confident, bool)
        text = json.dumps(r.scores, allow_nan=False)
        assert json.loads(text) == r.scores
        assert all(isinstance(v, int | float | type(None)) for v in r.scores.values())
        assert (RegimeResult.__doc__ or "").count("``") > 20  # every key is described
        for key in r.scores:
            assert key in (RegimeResult.__doc__ or ""), key


def switching_series(n_before: int = 400, n_after: int = 400) -> np.ndarray:
    """A period-5 map that turns into the logistic map at r=4 (chaotic) at ``n_before``."""
    return np.r_[period_k_map(n_before, 5, seed=1), logistic(n_after, seed=1)]


def test_monitor_flags_a_switch_from_periodic_to_chaotic_within_50_samples():
    x = switching_series()
    monitor = RegimeMonitor(window=48, every=8)
    flagged = None
    for i, v in enumerate(x):
        r = monitor.update(v)
        if r is not None and i < 400:
            assert r.kind == PERIODIC, i
        if r is not None and i >= 400 and r.kind == CHAOTIC and flagged is None:
            flagged = i
    assert flagged is not None and flagged - 400 < 50, flagged


def test_monitor_batches_match_single_samples_at_the_due_points():
    x = switching_series()
    single = RegimeMonitor(window=64, every=10)
    expected = {i: r for i, v in enumerate(x) if (r := single.update(v)) is not None}
    batched = RegimeMonitor(window=64, every=10)
    cuts = [0, 3, 63, 64, 65, 200, 207, 500, 800]
    for a, b in itertools.pairwise(cuts):
        r = batched.update(x[a:b])
        due = [i for i in expected if a <= i < b]
        if due:
            assert r == expected[max(due)]
        else:
            assert r is None
    assert batched.samples_seen == single.samples_seen == 800
    np.testing.assert_array_equal(batched.values(), single.values())


def test_monitor_pickle_round_trip_resumes_identically():
    x = switching_series(200, 200)
    reference = RegimeMonitor(window=48, every=7)
    expected = [reference.update(v) for v in x]
    for cut in range(0, 400, 37):
        monitor = RegimeMonitor(window=48, every=7)
        got = [monitor.update(v) for v in x[:cut]]
        monitor = pickle.loads(pickle.dumps(monitor))
        got += [monitor.update(v) for v in x[cut:]]
        assert got == expected


def test_monitor_rejects_non_finite_samples_without_changing_state():
    x = period_k_map(100, 4, seed=1)
    monitor = RegimeMonitor(window=32, every=8)
    monitor.update(x[:50])
    before = pickle.dumps(monitor)
    for bad in (math.nan, math.inf, np.r_[1.0, np.nan, 2.0]):
        with pytest.raises(ValueError, match="finite"):
            monitor.update(bad)
        assert pickle.dumps(monitor) == before
    assert monitor.update(x[50:56]).kind == PERIODIC


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"window": MIN_LENGTH - 1}, f"window must be >= {MIN_LENGTH}"),
    ({"every": 0}, "every must be >= 1"),
    ({"dt": -1.0}, "dt must be > 0"),
])
def test_monitor_constructor_names_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegimeMonitor(**kwargs)
