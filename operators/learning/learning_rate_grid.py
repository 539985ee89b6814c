"""The predictor tunes its own learning rate: FTRL models over a grid of rates, by progressive validation.

Which ``alpha`` suits a deployment depends on its traffic (0.2 did best on one
synthetic stream, 0.05 on the outcome simulator: ``bench.outcome_prediction``), and
the best one changes when the traffic drifts. Every model of the grid learns from
every label, so each one's test-then-train log loss is known on every example
(progressive validation, J. Blum, A. Kalai, J. Langford, COLT 1999): this is the
full-information setting, where following the model with the lowest recent loss
needs no exploration, unlike a bandit over configurations, which would see the
loss of only the one it played. The recent loss is an exponentially weighted
mean with a half-life of ``half_life`` labelled examples, so after a drift the
grid moves to the rate that recovers fastest. Predictions come from the current
leader alone (one model's cost); learning costs one update per model.

Examples
--------
>>> from midstream.operators.learning.hashing import hash_features
>>> grid = LearningRateGrid(bits=10, alphas=(0.02, 0.5))
>>> slow = hash_features({"itl_p95_s": 2.5}, bits=10)
>>> fast = hash_features({"itl_p95_s": 0.1}, bits=10)
>>> for _ in range(100):
...     _ = grid.learn_one(*slow, 1)
...     _ = grid.learn_one(*fast, 0)
>>> grid.leader_alpha, round(grid.predict_one(*slow), 2)
(0.5, 0.97)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import DEFAULT_BITS

__all__ = ["DEFAULT_ALPHAS", "LearningRateGrid", "stream_log_loss"]

DEFAULT_ALPHAS = (0.02, 0.05, 0.1, 0.2)
"""The learning-rate scales tried by default: a factor of 2 to 2.5 apart."""

_EPS = 1e-15


class LearningRateGrid:
    """FTRL-Proximal models over a grid of ``alpha``; predicts with the one whose recent loss is lowest.

    Parameters
    ----------
    bits
        Dimension of the hashed features, as :class:`~midstream.operators.learning.ftrl.FTRLProximal`.
    alphas
        The learning-rate scales tried, at least one, each > 0.
    half_life
        Labelled examples after which an example's weight in the recent loss halves (> 0).
    **ftrl
        Other FTRL settings (``beta``, ``l1``, ``l2``), shared by every model.

    Notes
    -----
    Ties go to the first ``alpha`` of the grid. The state is the models and the
    recent losses: it pickles, and a restored grid goes on identically.
    """

    def __init__(self, bits: int = DEFAULT_BITS, alphas: Sequence[float] = DEFAULT_ALPHAS, *,
                 half_life: float = 500.0, **ftrl: float) -> None:
        if not alphas:
            raise ValueError("alphas must name at least one learning-rate scale")
        if not (isinstance(half_life, int | float) and half_life > 0 and math.isfinite(half_life)):
            raise ValueError(f"half_life must be a finite number > 0, got {half_life!r}")
        self.alphas = tuple(float(a) for a in alphas)
        self.half_life = float(half_life)
        self.models = [FTRLProximal(bits, alpha=a, **ftrl) for a in self.alphas]
        self.recent_loss = [0.0] * len(self.models)
        """Exponentially weighted test-then-train log loss of each model."""
        self._decay = 0.5 ** (1.0 / self.half_life)
        self.leader = 0
        """Index of the model that predicts."""

    @property
    def leader_alpha(self) -> float:
        """The ``alpha`` of the model that predicts now."""
        return self.alphas[self.leader]

    def predict_one(self, indices: np.ndarray, values: np.ndarray) -> float:
        """Return the leader's P(label = 1) for one example."""
        return self.models[self.leader].predict_one(indices, values)

    def learn_one(self, indices: np.ndarray, values: np.ndarray, label: float) -> float:
        """Let every model learn from one labelled example; return the leader's prediction before it.

        For examples that share a label (a stream's checkpoints) use :meth:`learn_stream`.
        """
        y = float(label)
        decay = self._decay
        leader_prediction = 0.5
        for i, model in enumerate(self.models):
            p = model.learn_one(indices, values, y)
            if i == self.leader:
                leader_prediction = p
            self.recent_loss[i] = decay * self.recent_loss[i] + (1.0 - decay) * _log_loss(p, y)
        self.leader = min(range(len(self.models)), key=self.recent_loss.__getitem__)
        return leader_prediction

    def learn_stream(self, examples: Sequence[tuple[np.ndarray, np.ndarray]],
                     label: float) -> list[float]:
        """Learn from every checkpoint of one stream, all with the stream's label.

        A stream's checkpoints share its label and most of their features, so a
        model judged on each one after learning the ones before would be judged
        on what it has just been told: a fast rate would look best. Every model
        is therefore scored on all the stream's checkpoints first (their mean
        loss counts as one observation of the recent loss), then learns them.
        Returns the leader's predictions before learning.
        """
        if not examples:
            return []
        y = float(label)
        decay = self._decay
        predictions: list[float] = []
        for i, model in enumerate(self.models):
            ps = [model.predict_one(indices, values) for indices, values in examples]
            if i == self.leader:
                predictions = ps
            loss = stream_log_loss(ps, y)
            self.recent_loss[i] = decay * self.recent_loss[i] + (1.0 - decay) * loss
            for indices, values in examples:
                model.learn_one(indices, values, y)
        self.leader = min(range(len(self.models)), key=self.recent_loss.__getitem__)
        return predictions


def stream_log_loss(predictions: Sequence[float], label: float) -> float:
    """Return the mean log loss of a stream's predictions, all against its one label.

    >>> round(stream_log_loss([0.5, 0.5], 1.0), 4)
    0.6931
    """
    return sum(_log_loss(p, label) for p in predictions) / len(predictions)


def _log_loss(p: float, y: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))
