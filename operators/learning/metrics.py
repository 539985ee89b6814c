"""Scores of probability forecasts, kept as the labels arrive: log loss, rolling AUC, calibration error.

Prequential evaluation (A. P. Dawid, "Statistical theory: the prequential
approach", JRSS A 147, 1984): each forecast is scored on its example before
the model learns from it, so every example is a test example and no hold-out
set is needed; :meth:`FTRLProximal.learn_one
<midstream.operators.learning.ftrl.FTRLProximal.learn_one>` returns exactly that
forecast. Each class has ``update(p, label)`` and a read-only ``value``; each
has a plain function for a batch of forecasts, which the tests hold the class to.

Labels are 0 or 1 (``True``/``False`` too); forecasts are probabilities in ``[0, 1]``.

Examples
--------
>>> loss, auc, ece = PrequentialLogLoss(), RollingAUC(window=100), ExpectedCalibrationError(bins=5)
>>> for p, label in [(0.9, 1), (0.2, 0), (0.7, 1), (0.4, 0), (0.6, 0)]:
...     loss.update(p, label); auc.update(p, label); ece.update(p, label)
>>> round(loss.value, 4), auc.value, round(ece.value, 2)
(0.4225, 1.0, 0.2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from midstream.operators.compact_state import PackedState, pack_arrays, unpack_arrays

__all__ = ["ExpectedCalibrationError", "PrequentialLogLoss", "RollingAUC", "expected_calibration_error",
           "log_loss", "roc_auc"]

#: Forecasts or labels for the batch functions.
Batch = np.ndarray | Sequence[float]

#: Forecasts are clipped to ``[EPSILON, 1 - EPSILON]`` for the log loss: a confident
#: mistake costs 34.5 nats, not infinity.
EPSILON = 1e-15


def log_loss(p: Batch, labels: Batch) -> float:
    """Return the mean negative log-likelihood (nats) of binary labels under forecasts ``p``; NaN for none.

    Examples
    --------
    >>> round(log_loss([0.9, 0.2], [1, 0]), 4)
    0.1643
    """
    q, y = _checked_batch(p, labels)
    if q.size == 0:
        return math.nan
    q = np.clip(q, EPSILON, 1.0 - EPSILON)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q)))


def roc_auc(p: Batch, labels: Batch) -> float:
    """Return the area under the ROC curve: P(a random positive is scored above a random negative).

    Ties count one half (the Mann–Whitney statistic with average ranks), so the value is
    exact, in O(N log N). NaN unless both labels are present.

    Examples
    --------
    >>> roc_auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    0.875
    >>> roc_auc([0.3, 0.6], [1, 1])
    nan
    """
    q, y = _checked_batch(p, labels)
    positive = y == 1.0
    n_pos = int(positive.sum())
    n_neg = q.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], q.size]
    # Positions starts..ends-1 (0-based) share the mean of the ranks starts+1..ends.
    ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    rank_sum = float(ranks[positive[order]].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def expected_calibration_error(p: Batch, labels: Batch,
                               bins: int = 10) -> float:
    """Return the expected calibration error over ``bins`` equal-width bins of ``p``; NaN for none.

    ``sum_b (n_b / N) |mean forecast in b - fraction of positives in b|``; bin ``b`` holds
    ``b / bins <= p < (b + 1) / bins`` (the last one includes 1).

    Examples
    --------
    >>> round(expected_calibration_error([0.1, 0.1, 0.8, 0.8], [0, 1, 1, 1], bins=10), 6)
    0.3
    """
    _check_bins(bins)
    q, y = _checked_batch(p, labels)
    if q.size == 0:
        return math.nan
    which = np.minimum((q * bins).astype(np.int64), bins - 1)
    gap = np.bincount(which, weights=q - y, minlength=bins)
    return float(np.abs(gap).sum() / q.size)


class PrequentialLogLoss:
    """Mean log loss of every forecast so far, each scored before its example was learned.

    Examples
    --------
    >>> loss = PrequentialLogLoss()
    >>> loss.value
    nan
    >>> loss.update(0.5, 1)
    >>> round(loss.value, 6), loss.count
    (0.693147, 1)
    """

    def __init__(self) -> None:
        self._sum = 0.0
        self._count = 0

    def update(self, p: float, label: float) -> None:
        """Score one forecast ``p`` of ``label`` (0 or 1)."""
        y = _checked_label(label)
        q = min(max(_checked_probability(p), EPSILON), 1.0 - EPSILON)
        self._sum -= math.log(q) if y else math.log1p(-q)
        self._count += 1

    @property
    def value(self) -> float:
        """Mean log loss in nats (NaN before the first forecast)."""
        return self._sum / self._count if self._count else math.nan

    @property
    def count(self) -> int:
        """Forecasts scored."""
        return self._count


class RollingAUC:
    """ROC AUC of the last ``window`` labelled forecasts, computed exactly when read.

    Parameters
    ----------
    window
        Forecasts kept (>= 2). Reading ``value`` sorts them: O(window log window), about
        70 µs at the default 1,000; ``update`` is O(1).

    Examples
    --------
    >>> auc = RollingAUC(window=3)
    >>> for p, label in [(0.1, 1), (0.8, 1), (0.3, 0), (0.6, 0)]:
    ...     auc.update(p, label)
    >>> auc.value                      # of the last three: 0.8 above both negatives
    1.0
    """

    def __init__(self, window: int = 1000) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window must be an integer >= 2, got {window!r}")
        self.window = window
        self._p = np.zeros(window)
        self._labels = np.zeros(window)
        self._seen = 0

    def __getstate__(self) -> PackedState:
        """Pickle compactly (:mod:`midstream.operators.compact_state`)."""
        return pack_arrays(self.__dict__, ("_p", "_labels"))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        self.__dict__.update(unpack_arrays(state))

    def update(self, p: float, label: float) -> None:
        """Add one forecast ``p`` of ``label`` (0 or 1), forgetting the oldest once full."""
        y = _checked_label(label)
        slot = self._seen % self.window
        self._p[slot] = _checked_probability(p)
        self._labels[slot] = y
        self._seen += 1

    @property
    def value(self) -> float:
        """AUC of the forecasts in the window (NaN until both labels are in it)."""
        n = self.count
        return roc_auc(self._p[:n], self._labels[:n])

    @property
    def count(self) -> int:
        """Forecasts in the window."""
        return min(self._seen, self.window)


class ExpectedCalibrationError:
    """Expected calibration error of every forecast so far, over ``bins`` equal-width bins.

    Parameters
    ----------
    bins
        Number of bins of ``[0, 1]`` (>= 1); 10 is usual. Each bin keeps two sums.

    Examples
    --------
    >>> ece = ExpectedCalibrationError(bins=10)
    >>> for p, label in [(0.1, 0), (0.1, 1), (0.8, 1), (0.8, 1)]:
    ...     ece.update(p, label)
    >>> round(ece.value, 6)            # (2 * 0.4 + 2 * 0.2) / 4
    0.3
    """

    def __init__(self, bins: int = 10) -> None:
        _check_bins(bins)
        self.bins = bins
        # Per bin: the sum of (forecast - label), whose absolute value is the bin's
        # count times its calibration gap.
        self._gap = np.zeros(bins)
        self._count = 0

    def __getstate__(self) -> PackedState:
        """Pickle compactly (:mod:`midstream.operators.compact_state`)."""
        return pack_arrays(self.__dict__, ("_gap",))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        self.__dict__.update(unpack_arrays(state))

    def update(self, p: float, label: float) -> None:
        """Add one forecast ``p`` of ``label`` (0 or 1)."""
        y = _checked_label(label)
        q = _checked_probability(p)
        self._gap[min(int(q * self.bins), self.bins - 1)] += q - y
        self._count += 1

    @property
    def value(self) -> float:
        """The calibration error, between 0 and 1 (NaN before the first forecast)."""
        return float(np.abs(self._gap).sum() / self._count) if self._count else math.nan

    @property
    def count(self) -> int:
        """Forecasts added."""
        return self._count


def _checked_label(label: float) -> float:
    y = float(label)
    if y != 0.0 and y != 1.0:
        raise ValueError(f"label must be 0 or 1, got {label!r}")
    return y


def _checked_probability(p: float) -> float:
    q = float(p)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return q


def _checked_batch(p: Batch, labels: Batch) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(p, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if q.ndim != 1 or q.shape != y.shape:
        raise ValueError(f"p and labels must be one-dimensional and of the same length, "
                         f"got shapes {q.shape} and {y.shape}")
    if not np.all((q >= 0.0) & (q <= 1.0)):
        raise ValueError("p must hold probabilities in [0, 1]")
    if not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError("labels must be 0 or 1")
    return q, y


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
