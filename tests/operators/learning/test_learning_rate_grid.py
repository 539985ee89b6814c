"""LearningRateGrid: it predicts about as well as the best rate of its grid, and pickles."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import hash_features
from midstream.operators.learning.learning_rate_grid import LearningRateGrid

ALPHAS = (0.01, 0.05, 0.2, 1.0)


def stream(n: int, seed: int, flip_at: int | None = None):
    """Examples of a known logistic model over 20 features; its weights flip sign at ``flip_at``."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0, 20)
    for t in range(n):
        x = rng.normal(0.0, 1.0, 20)
        w = -weights if flip_at is not None and t >= flip_at else weights
        y = float(rng.random() < 1.0 / (1.0 + math.exp(-float(x @ w))))
        yield hash_features({f"f{i}": float(v) for i, v in enumerate(x)}, bits=12), y


def log_loss(p: float, y: float) -> float:
    p = min(max(p, 1e-15), 1 - 1e-15)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


@pytest.mark.parametrize("flip_at", [None, 2000], ids=["stationary", "drift"])
def test_it_does_about_as_well_as_the_best_rate_of_its_grid(flip_at: int | None) -> None:
    grid = LearningRateGrid(bits=12, alphas=ALPHAS, half_life=200)
    singles = [FTRLProximal(12, alpha=a) for a in ALPHAS]
    grid_loss, single_loss = 0.0, [0.0] * len(ALPHAS)
    for x, y in stream(4000, seed=1, flip_at=flip_at):
        grid_loss += log_loss(grid.learn_one(x.indices, x.values, y), y)
        for i, model in enumerate(singles):
            single_loss[i] += log_loss(model.learn_one(x.indices, x.values, y), y)
    assert grid_loss <= 1.03 * min(single_loss)
    assert grid_loss < 0.9 * max(single_loss)


def test_pickled_midway_it_goes_on_identically() -> None:
    examples = list(stream(600, seed=2))
    whole, half = LearningRateGrid(bits=12), LearningRateGrid(bits=12)
    expected = [whole.learn_one(x.indices, x.values, y) for x, y in examples]
    got = [half.learn_one(x.indices, x.values, y) for x, y in examples[:300]]
    half = pickle.loads(pickle.dumps(half))
    got += [half.learn_one(x.indices, x.values, y) for x, y in examples[300:]]
    assert got == expected and half.leader == whole.leader


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alphas": ()}, "alphas must name at least one"),
    ({"half_life": 0}, "half_life must be a finite number > 0"),
    ({"alphas": (0.1, -1.0)}, "alpha must be a finite number > 0"),
])
def test_constructor_names_valid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LearningRateGrid(bits=8, **kwargs)  # type: ignore[arg-type]


def test_a_streams_checkpoints_are_all_scored_before_any_is_learned() -> None:
    """A stream's checkpoints share its label: each model is judged on all of them as it was
    before the stream, then learns them (judged after learning the first, a fast rate would
    look best on the rest: it repeats the label it was just told)."""
    examples = list(stream(200, seed=3))
    grid = LearningRateGrid(bits=12, alphas=ALPHAS, half_life=50)
    for x, y in examples[:100]:
        grid.learn_one(x.indices, x.values, y)
    checkpoints = [(x.indices, x.values) for x, _ in examples[100:108]]
    before = pickle.loads(pickle.dumps(grid))
    got = grid.learn_stream(checkpoints, 1.0)
    leader = before.models[before.leader]
    assert got == [leader.predict_one(i, v) for i, v in checkpoints]
    decay = 0.5 ** (1 / 50)
    for model, old, new in zip(before.models, before.recent_loss, grid.recent_loss, strict=True):
        mean = sum(log_loss(model.predict_one(i, v), 1.0) for i, v in checkpoints) / 8
        assert new == pytest.approx(decay * old + (1 - decay) * mean, rel=1e-12)
    for model, after in zip(before.models, grid.models, strict=True):
        for i, v in checkpoints:
            model.learn_one(i, v, 1.0)
        assert model.predict_one(*checkpoints[0]) == after.predict_one(*checkpoints[0])
