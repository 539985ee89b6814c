"""Each incremental score equals the batch answer at every step; each batch answer equals brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.learning.metrics import (
    ExpectedCalibrationError,
    PrequentialLogLoss,
    RollingAUC,
    expected_calibration_error,
    log_loss,
    roc_auc,
)


def brute_auc(p, labels):
    """Fraction of (positive, negative) pairs ranked right, ties counting one half."""
    pos = [a for a, y in zip(p, labels, strict=True) if y]
    neg = [a for a, y in zip(p, labels, strict=True) if not y]
    if not pos or not neg:
        return math.nan
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def brute_ece(p, labels, bins):
    total = 0.0
    for b in range(bins):
        members = [(a, y) for a, y in zip(p, labels, strict=True)
                   if min(int(a * bins), bins - 1) == b]
        if members:
            mean_p = sum(a for a, _ in members) / len(members)
            rate = sum(y for _, y in members) / len(members)
            total += len(members) / len(p) * abs(mean_p - rate)
    return total


def brute_log_loss(p, labels):
    return -sum(math.log(min(max(a, 1e-15), 1 - 1e-15)) if y else
                math.log(1 - min(max(a, 1e-15), 1 - 1e-15))
                for a, y in zip(p, labels, strict=True)) / len(p)


def stream(seed, n, levels=None):
    """Forecasts (coarse when ``levels``, so that ties happen) and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 1.5, n)
    if levels:
        p = np.round(p * levels) / levels
    labels = (rng.random(n) < np.clip(p + 0.1, 0, 1)).astype(int)
    return p.tolist(), labels.tolist()


forecasts = st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
                               | st.floats(0.0, 1.0), st.integers(0, 1)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(forecasts, st.integers(1, 12))
def test_batch_functions_equal_brute_force(pairs, bins):
    p = [a for a, _ in pairs]
    labels = [y for _, y in pairs]
    if not pairs:
        assert math.isnan(log_loss(p, labels)) and math.isnan(expected_calibration_error(p, labels))
        return
    assert log_loss(p, labels) == pytest.approx(brute_log_loss(p, labels), rel=1e-12)
    assert expected_calibration_error(p, labels, bins) == pytest.approx(brute_ece(p, labels, bins),
                                                                        abs=1e-12)
    expected = brute_auc(p, labels)
    got = roc_auc(p, labels)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("levels", [None, 10])
def test_log_loss_equals_the_batch_answer_at_every_step(levels):
    p, labels = stream(0, 600, levels)
    metric = PrequentialLogLoss()
    assert math.isnan(metric.value)
    for k in range(len(p)):
        metric.update(p[k], labels[k])
        assert metric.value == pytest.approx(log_loss(p[:k + 1], labels[:k + 1]), rel=1e-11)
    assert metric.count == len(p)


@pytest.mark.parametrize(("window", "levels"), [(50, None), (200, 8), (2, None)])
def test_rolling_auc_equals_the_batch_answer_over_the_window_at_every_step(window, levels):
    p, labels = stream(1, 700, levels)
    metric = RollingAUC(window)
    for k in range(len(p)):
        metric.update(p[k], labels[k])
        start = max(0, k + 1 - window)
        expected = brute_auc(p[start:k + 1], labels[start:k + 1]) if window <= 50 else \
            roc_auc(p[start:k + 1], labels[start:k + 1])
        got = metric.value
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)
        assert metric.count == k + 1 - start


def test_roc_auc_against_brute_force_on_a_long_tied_stream():
    p, labels = stream(2, 1500, levels=20)
    assert roc_auc(p, labels) == pytest.approx(brute_auc(p, labels), abs=1e-12)


@pytest.mark.parametrize("bins", [1, 10, 15])
def test_calibration_error_equals_the_batch_answer_at_every_step(bins):
    p, labels = stream(3, 500, levels=None)
    p[:3] = [0.0, 1.0, 0.5]
    metric = ExpectedCalibrationError(bins)
    assert math.isnan(metric.value)
    for k in range(len(p)):
        metric.update(p[k], labels[k])
        assert metric.value == pytest.approx(expected_calibration_error(p[:k + 1], labels[:k + 1], bins),
                                             abs=1e-12)


def test_calibration_error_is_small_for_calibrated_forecasts_and_large_otherwise():
    rng = np.random.default_rng(4)
    p = rng.random(50_000)
    labels = (rng.random(50_000) < p).astype(int)
    assert expected_calibration_error(p, labels) < 0.01
    assert expected_calibration_error(np.clip(p + 0.2, 0, 1), labels) > 0.15


def test_confident_mistakes_cost_a_bounded_amount():
    assert log_loss([0.0, 1.0], [1, 0]) == pytest.approx(-math.log(1e-15), rel=1e-3)
    metric = PrequentialLogLoss()
    metric.update(0.0, 1)
    assert math.isfinite(metric.value)


def test_bad_input_is_rejected_with_the_valid_values():
    for metric in (PrequentialLogLoss(), RollingAUC(), ExpectedCalibrationError()):
        with pytest.raises(ValueError, match="label must be 0 or 1, got 2"):
            metric.update(0.5, 2)
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
            metric.update(1.5, 1)
        with pytest.raises(ValueError, match="p must be a probability"):
            metric.update(math.nan, 1)
        assert metric.count == 0
    with pytest.raises(ValueError, match="window must be an integer >= 2, got 1"):
        RollingAUC(1)
    with pytest.raises(ValueError, match="bins must be an integer >= 1, got 0"):
        ExpectedCalibrationError(0)
    with pytest.raises(ValueError, match="same length"):
        roc_auc([0.5, 0.4], [1])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        log_loss([0.5], [0.5])
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        expected_calibration_error([-0.1], [1])
