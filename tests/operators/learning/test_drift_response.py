"""DriftResponse and FTRLProximal.refresh: same predictions, faster learning, alarms on a real change only."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator

import numpy as np
import pytest

from midstream.operators.learning.drift_response import DriftResponse
from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import HashedFeatures, hash_features


def streams(n: int, seed: int, flip_at: int | None = None
            ) -> Iterator[tuple[list[HashedFeatures], float]]:
    """Labelled streams of 3 similar checkpoints from a logistic model whose weights flip."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.5, 8)
    for t in range(n):
        base = rng.normal(0.0, 1.0, 8)
        w = -weights if flip_at is not None and t >= flip_at else weights
        label = float(rng.random() < 1.0 / (1.0 + math.exp(-float(base @ w))))
        checkpoints = [hash_features({f"f{i}": float(v) + 0.05 * k for i, v in enumerate(base)},
                                     bits=12) for k in range(3)]
        yield checkpoints, label


@pytest.mark.parametrize("l1", [0.0, 0.5])
def test_refresh_keeps_every_prediction_and_speeds_up_learning(l1: float) -> None:
    model = FTRLProximal(12, l1=l1)
    examples = [x for checkpoints, _ in streams(400, seed=1) for x in checkpoints]
    labels = [y for _, y in streams(400, seed=1) for _ in range(3)]
    for x, y in zip(examples, labels, strict=True):
        model.learn_one(x.indices, x.values, y)
    slow = pickle.loads(pickle.dumps(model))
    before = [model.predict_one(*x) for x in examples[:50]]
    model.refresh(0.1)
    assert [model.predict_one(*x) for x in examples[:50]] == pytest.approx(before, abs=1e-12)
    x = examples[0]
    moved = abs(model.learn_one(x.indices, x.values, 1.0) - model.predict_one(*x))
    assert moved > 1.5 * abs(slow.learn_one(x.indices, x.values, 1.0) - slow.predict_one(*x))


def test_a_flip_of_what_predicts_failure_raises_an_alarm_and_a_stationary_stream_none() -> None:
    flipped, steady = DriftResponse(bits=12), DriftResponse(bits=12)
    alarms_at = []
    for t, (checkpoints, label) in enumerate(streams(3000, seed=2, flip_at=1500)):
        flipped.learn_stream(checkpoints, label)
        if flipped.drift_detected:
            alarms_at.append(t)
    for checkpoints, label in streams(3000, seed=3):
        steady.learn_stream(checkpoints, label)
    assert alarms_at and 1500 <= alarms_at[0] < 1900
    assert steady.alarms == 0


def test_pickled_midway_it_goes_on_identically() -> None:
    data = list(streams(400, seed=4, flip_at=200))
    whole, half = DriftResponse(bits=12, min_instances=20), DriftResponse(bits=12, min_instances=20)
    expected = [whole.learn_stream(c, y) for c, y in data]
    got = [half.learn_stream(c, y) for c, y in data[:150]]
    half = pickle.loads(pickle.dumps(half))
    got += [half.learn_stream(c, y) for c, y in data[150:]]
    assert got == expected and half.alarms == whole.alarms


def test_constructor_names_valid_values() -> None:
    with pytest.raises(ValueError, match=r"keep must be a number in \(0, 1\]"):
        DriftResponse(bits=8, keep=0.0)
    with pytest.raises(ValueError, match=r"keep must be a number in \(0, 1\]"):
        FTRLProximal(8).refresh(1.5)
