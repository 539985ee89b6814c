"""Page–Hinkley fires on a shift of the mean, stays quiet on a stationary stream, and matches river."""

from __future__ import annotations

import numpy as np
import pytest

from midstream.operators.learning.drift import PageHinkley, page_hinkley_alarms


def shifted(seed, before=3000, after=1000, mean=0.4, shift=0.3, sd=0.25):
    rng = np.random.default_rng(seed)
    return (rng.normal(mean, sd, before).tolist() + rng.normal(mean + shift, sd, after).tolist())


@pytest.mark.parametrize("seed", range(5))
def test_fires_soon_after_a_rise_of_the_mean_and_not_before(seed):
    values = shifted(seed)
    alarms = page_hinkley_alarms(values, delta=0.05, threshold=10.0, mode="up")
    assert alarms, "no alarm"
    assert 3000 <= alarms[0] <= 3000 + 2 * 10.0 / (0.3 - 0.05)


@pytest.mark.parametrize("seed", range(5))
def test_fires_on_a_fall_in_down_and_both_modes_but_not_in_up_mode(seed):
    values = shifted(seed, shift=-0.3)
    for mode in ("down", "both"):
        alarms = page_hinkley_alarms(values, delta=0.05, threshold=10.0, mode=mode)
        assert alarms and 3000 <= alarms[0] <= 3100, mode
    assert page_hinkley_alarms(values, delta=0.05, threshold=10.0, mode="up") == []


@pytest.mark.parametrize("seed", range(5))
def test_stays_quiet_on_a_stationary_stream(seed):
    rng = np.random.default_rng(100 + seed)
    losses = rng.exponential(0.4, 20_000).tolist()  # skewed, like a per-example log loss
    assert page_hinkley_alarms(losses, delta=0.05, threshold=40.0) == []
    assert page_hinkley_alarms(rng.normal(0.0, 0.2, 20_000).tolist()) == []  # the defaults


def test_the_class_and_the_function_agree_and_the_test_restarts_after_an_alarm():
    values = shifted(7, after=3000, shift=1.0)
    detector = PageHinkley(delta=0.05, threshold=5.0, mode="both")
    seen = []
    for i, x in enumerate(values):
        detector.update(x)
        if detector.drift_detected:
            seen.append(i)
    assert seen == page_hinkley_alarms(values, delta=0.05, threshold=5.0)
    assert detector.alarms == len(seen) >= 1
    # After an alarm the next value starts afresh: the mean is that value alone.
    detector = PageHinkley(delta=0.05, threshold=5.0)
    for x in values[: seen[0] + 1]:
        detector.update(x)
    assert detector.drift_detected
    detector.update(42.0)
    assert not detector.drift_detected and detector.mean == 42.0


@pytest.mark.parametrize("kwargs", [
    {}, {"delta": 0.05, "threshold": 10.0, "mode": "up"}, {"delta": 0.01, "threshold": 3.0},
    {"min_instances": 5, "delta": 0.0, "threshold": 2.0, "alpha": 0.99, "mode": "down"},
])
def test_raises_the_same_alarms_as_river(kwargs):
    drift = pytest.importorskip("river.drift")
    rng = np.random.default_rng(11)
    values = (rng.normal(0.5, 0.3, 4000).tolist() + rng.normal(0.9, 0.3, 2000).tolist()
              + rng.normal(0.2, 0.3, 2000).tolist() + rng.exponential(0.5, 4000).tolist())
    ours, theirs = PageHinkley(**kwargs), drift.PageHinkley(**kwargs)
    fired = 0
    for x in values:
        ours.update(x)
        theirs.update(x)
        assert ours.drift_detected == theirs.drift_detected
        fired += ours.drift_detected
    assert fired >= 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_instances": 0}, "min_instances must be an integer >= 1, got 0"),
    ({"delta": -0.1}, "delta must be a finite number >= 0, got -0.1"),
    ({"threshold": 0}, "threshold must be a finite number > 0, got 0"),
    ({"alpha": 1.5}, r"alpha must be in \(0, 1\], got 1.5"),
    ({"mode": "sideways"}, r"mode must be one of \('up', 'down', 'both'\), got 'sideways'"),
])
def test_parameters_are_validated_with_the_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PageHinkley(**kwargs)


def test_non_finite_values_are_rejected_and_change_nothing():
    detector = PageHinkley()
    detector.update(1.0)
    with pytest.raises(ValueError, match="values must be finite"):
        detector.update(float("nan"))
    assert detector.mean == 1.0
