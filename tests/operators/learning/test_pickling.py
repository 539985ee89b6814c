"""Every learning class pickles and resumes identically: Bytewax recovery depends on it."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from midstream.operators.learning.drift import PageHinkley
from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import hash_features
from midstream.operators.learning.metrics import ExpectedCalibrationError, PrequentialLogLoss, RollingAUC


def _examples() -> list[tuple[Any, int]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(300):
        x = rng.normal(size=5)
        features = hash_features({f"f{j}": v for j, v in enumerate(x.tolist())},
                                 {"model": f"m{rng.integers(4)}"}, bits=10)
        out.append((features, int(x[0] + 0.5 * x[1] > 0.3)))
    return out


def _drive_ftrl(model: FTRLProximal, item: tuple[Any, int]) -> object:
    (indices, values), label = item
    return model.learn_one(indices, values, label), model.predict_one(indices, values)


def _drive_metric(metric: Any, item: tuple[Any, int]) -> object:
    (_, values), label = item
    p = 1.0 / (1.0 + np.exp(-values[1:].sum()))
    metric.update(p, label)
    return repr(metric.value)  # NaN compares equal to itself through repr


def _drive_drift(detector: PageHinkley, item: tuple[Any, int]) -> object:
    (_, values), label = item
    detector.update(float(values[1]) + 3.0 * label)
    return detector.drift_detected, detector.alarms, detector.mean


CASES: list[tuple[Callable[[], Any], Callable[[Any, Any], object]]] = [
    (lambda: FTRLProximal(10), _drive_ftrl),
    (lambda: FTRLProximal(10, alpha=0.5, l1=0.5, l2=0.0), _drive_ftrl),
    (PrequentialLogLoss, _drive_metric),
    (lambda: RollingAUC(window=40), _drive_metric),
    (lambda: ExpectedCalibrationError(bins=7), _drive_metric),
    (lambda: PageHinkley(min_instances=5, delta=0.1, threshold=4.0), _drive_drift),
]
IDS = ["FTRLProximal", "FTRLProximal-l1", "PrequentialLogLoss", "RollingAUC",
       "ExpectedCalibrationError", "PageHinkley"]


@pytest.mark.parametrize(("make", "drive"), CASES, ids=IDS)
def test_round_trip_at_any_point_continues_identically(make, drive):
    items = _examples()
    reference = make()
    expected = [drive(reference, item) for item in items]
    for cut in (0, 1, 39, 40, 41, 150, 299):
        state = make()
        got = [drive(state, item) for item in items[:cut]]
        state = pickle.loads(pickle.dumps(state))
        got += [drive(state, item) for item in items[cut:]]
        assert got == expected, cut


@pytest.mark.parametrize(("make", "drive"), CASES, ids=IDS)
def test_pickling_and_copying_leave_the_original_alone(make, drive):
    items = _examples()
    reference, state = make(), make()
    for item in items[:100]:
        drive(reference, item)
        drive(state, item)
    pickle.dumps(state)
    twin = copy.deepcopy(state)
    for item in items[100:]:
        assert drive(state, item) == drive(reference, item) == drive(twin, item)
