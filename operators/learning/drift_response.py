"""A predictor that answers drift: on an alarm on its own loss, its models learn fast again.

A :class:`~midstream.operators.learning.drift.PageHinkley` test watches the
predictor's own test-then-train log loss, one value per labelled stream. When
the loss rises (the traffic changed what predicts a bad ending), every FTRL
model of the :class:`~midstream.operators.learning.learning_rate_grid.LearningRateGrid`
is refreshed (:meth:`~midstream.operators.learning.ftrl.FTRLProximal.refresh`):
its per-coordinate learning rates rise back as if it had seen a fraction
``keep`` of its past, while its weights, and so its predictions, stay as they
were. The model neither forgets what still holds nor stays slow to learn what
changed. Measured against the alternative of training a fresh model beside the
old one and swapping when it does better, which never beat the old one within
its trial on the outcome simulator (``bench.outcome_prediction``), and against
no response: see ``bench/RESULTS.md``.

Examples
--------
>>> from midstream.operators.learning.hashing import hash_features
>>> model = DriftResponse(bits=10)
>>> a, b = hash_features({"x": 1.0}, bits=10), hash_features({"x": -1.0}, bits=10)
>>> for label in [1.0] * 400 + [0.0] * 400:          # what predicts "bad" flips at 400
...     _ = model.learn_stream([tuple(a)], label)
...     _ = model.learn_stream([tuple(b)], 1.0 - label)
>>> model.alarms >= 1, model.predict_one(*a) < 0.2
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from midstream.operators.learning.drift import PageHinkley
from midstream.operators.learning.hashing import DEFAULT_BITS
from midstream.operators.learning.learning_rate_grid import (
    DEFAULT_ALPHAS,
    LearningRateGrid,
    stream_log_loss,
)

__all__ = ["DriftResponse"]

class DriftResponse:
    """A :class:`LearningRateGrid` that watches its loss and learns fast again after a drift.

    Parameters
    ----------
    bits, alphas, half_life
        Settings of the grid (see :class:`LearningRateGrid`).
    keep
        On an alarm, each model's learning rates become those of a model that had
        seen this fraction of its past, in ``(0, 1]``.
    delta, threshold, min_instances
        The Page–Hinkley test on the per-stream log loss (increases only). The
        defaults catch a rise of the mean loss by 0.07 within about 330 streams
        (``threshold / (rise - delta)``); a threshold of 5 raised 32 alarms in the
        simulator's 6,000 streams, and refreshing on each made predictions worse.

    Notes
    -----
    ``drift_detected`` is true right after the labelled stream that raised an
    alarm (the moment to report ``learning/drift``). The state pickles; a
    restored predictor goes on identically.
    """

    def __init__(self, bits: int = DEFAULT_BITS, alphas: Sequence[float] = DEFAULT_ALPHAS, *,
                 half_life: float = 500.0, keep: float = 0.1, delta: float = 0.01,
                 threshold: float = 20.0, min_instances: int = 100) -> None:
        if not (isinstance(keep, int | float) and 0.0 < keep <= 1.0):
            raise ValueError(f"keep must be a number in (0, 1], got {keep!r}")
        self.keep = keep
        self.grid = LearningRateGrid(bits, alphas, half_life=half_life)
        self.detector = PageHinkley(min_instances=min_instances, delta=delta,
                                    threshold=threshold, mode="up")
        self.drift_detected = False
        self.alarms = 0
        """Drift alarms so far."""

    def predict_one(self, indices: np.ndarray, values: np.ndarray) -> float:
        """Return the grid's P(bad) for one checkpoint."""
        return self.grid.predict_one(indices, values)

    def learn_stream(self, examples: Sequence[tuple[np.ndarray, np.ndarray]],
                     label: float) -> list[float]:
        """Learn from one labelled stream's checkpoints; return the predictions made before."""
        predictions = self.grid.learn_stream(examples, label)
        if not predictions:
            return predictions
        self.detector.update(stream_log_loss(predictions, float(label)))
        self.drift_detected = self.detector.drift_detected
        if self.drift_detected:
            self.alarms += 1
            for model in self.grid.models:
                model.refresh(self.keep)
        return predictions

