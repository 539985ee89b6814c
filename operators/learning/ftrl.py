"""Logistic regression learned online by FTRL-Proximal, over hashed sparse features.

FTRL-Proximal (H. B. McMahan et al., "Ad Click Prediction: a View from the
Trenches", KDD 2013, Algorithm 1) keeps two numbers per coordinate: ``z``, the
sum of gradients minus a proximal correction, and ``n``, the sum of squared
gradients. The weight is computed lazily from them,

    w_i = 0                                                   if |z_i| <= l1
    w_i = -(z_i - sign(z_i) l1) / ((beta + sqrt(n_i)) / alpha + l2)  otherwise,

so each coordinate has its own learning rate ``alpha / (beta + sqrt(n_i))``, which
falls as that feature is seen, and L1 holds rare features at exactly 0. A feature
seen for the first time at the thousandth example is learned as fast as the bias
was at the first.

``z`` and ``n`` are dense float64 arrays of ``2**bits`` slots (the dimension of
:mod:`midstream.operators.learning.hashing`): 16 bytes per slot, 4 MB at the
default ``bits = 18``. Only the slots an example names are read or written, by
numba kernels in :mod:`midstream.operators.learning._kernels`: 1.3 µs to predict
and 1.8 µs to learn from an example of 35 features (``python -m
bench.online_learners``; the same step as NumPy array operations takes 14 µs). A
pickle holds only the slots ever touched, 20 bytes each, so its size follows the
features seen and not ``2**bits`` (100 kB after the benchmark's 20,000 examples).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from midstream.operators.compact_state import PackedState, pack_arrays, unpack_arrays
from midstream.operators.learning._kernels import INVALID, ftrl_learn, ftrl_predict
from midstream.operators.learning.hashing import DEFAULT_BITS, check_bits

__all__ = ["FTRLProximal"]


class FTRLProximal:
    """Online logistic regression, P(label = 1 | x), trained by FTRL-Proximal.

    Parameters
    ----------
    bits
        The model has ``2**bits`` coordinates (``1..24``), the dimension the features were
        hashed to. Memory is ``16 * 2**bits`` bytes (4 MB at 18).
    alpha
        Learning-rate scale (> 0): a coordinate's rate is ``alpha / (beta + sqrt(n_i))``.
        0.2 did best of 0.05, 0.1, 0.2 and 0.5 on the benchmark's synthetic stream; retune
        it on real feedback.
    beta
        Learning-rate smoothing (>= 0); 1 is the paper's advice and rarely needs tuning.
    l1
        L1 strength (>= 0): a weight stays exactly 0 until its ``|z|`` exceeds ``l1``.
    l2
        L2 strength (>= 0).

    Notes
    -----
    ``predict_one`` and ``learn_one`` take the parallel arrays of
    :class:`~midstream.operators.learning.hashing.HashedFeatures`: distinct int64 indices
    in ``[0, 2**bits)`` and finite float64 values. Anything else raises ``ValueError`` and
    leaves the model unchanged. Labels are 0 or 1 (or a probability in between).
    The state pickles compactly and a restored model continues identically.

    Examples
    --------
    >>> from midstream.operators.learning.hashing import hash_features
    >>> model = FTRLProximal(bits=10)
    >>> slow = hash_features({"itl_p95_s": 2.5}, {"provider": "a"}, bits=10)
    >>> fast = hash_features({"itl_p95_s": 0.1}, {"provider": "a"}, bits=10)
    >>> model.predict_one(*slow)                      # knows nothing yet
    0.5
    >>> for _ in range(200):
    ...     _ = model.learn_one(*slow, 1)
    ...     _ = model.learn_one(*fast, 0)
    >>> round(model.predict_one(*slow), 2), round(model.predict_one(*fast), 2)
    (0.95, 0.11)
    >>> model.examples_learned
    400
    """

    def __init__(self, bits: int = DEFAULT_BITS, *, alpha: float = 0.2, beta: float = 1.0,
                 l1: float = 0.0, l2: float = 1.0) -> None:
        check_bits(bits)
        if not (isinstance(alpha, int | float) and alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
        for name, value in (("beta", beta), ("l1", l1), ("l2", l2)):
            if not (isinstance(value, int | float) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.bits = bits
        self.alpha = alpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
        self._z = np.zeros(1 << bits)
        self._n = np.zeros(1 << bits)
        self._learned = 0

    def __repr__(self) -> str:
        return (f"FTRLProximal(bits={self.bits}, alpha={self.alpha}, beta={self.beta}, "
                f"l1={self.l1}, l2={self.l2})")

    def __getstate__(self) -> PackedState:
        """Pickle compactly: only the coordinates that were ever touched."""
        attributes = {k: v for k, v in self.__dict__.items() if k not in ("_z", "_n")}
        touched = np.flatnonzero((self._z != 0.0) | (self._n != 0.0))
        attributes.update(_touched=touched.astype(np.uint32),  # bits <= 24
                          _z_touched=self._z[touched], _n_touched=self._n[touched])
        return pack_arrays(attributes, ("_touched", "_z_touched", "_n_touched"))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        attributes = unpack_arrays(state)
        touched = attributes.pop("_touched")
        z_touched = attributes.pop("_z_touched")
        n_touched = attributes.pop("_n_touched")
        self.__dict__.update(attributes)
        self._z = np.zeros(1 << self.bits)
        self._n = np.zeros(1 << self.bits)
        self._z[touched] = z_touched
        self._n[touched] = n_touched

    def predict_one(self, indices: np.ndarray, values: np.ndarray) -> float:
        """Return P(label = 1) for one example, without learning from it."""
        indices, values = self._checked(indices, values)
        p = ftrl_predict(self._z, self._n, indices, values, self.alpha, self.beta, self.l1, self.l2)
        if p == INVALID:
            self._raise_invalid(indices)
        return p

    def learn_one(self, indices: np.ndarray, values: np.ndarray, label: float) -> float:
        """Learn from one labelled example; return the prediction made before the update.

        The returned probability is the honest, test-then-train forecast for this
        example: feed it to :mod:`midstream.operators.learning.metrics`.
        """
        y = float(label)
        if not 0.0 <= y <= 1.0:
            raise ValueError(f"label must be 0, 1 or a probability between, got {label!r}")
        indices, values = self._checked(indices, values)
        p = ftrl_learn(self._z, self._n, indices, values, y,
                       self.alpha, self.beta, self.l1, self.l2)
        if p == INVALID:
            self._raise_invalid(indices)
        self._learned += 1
        return p

    @property
    def weights(self) -> np.ndarray:
        """The weight of every coordinate (a new array of ``2**bits``; index 0 is the bias)."""
        z, n = self._z, self._n
        shrunk = np.sign(z) * np.maximum(np.abs(z) - self.l1, 0.0)
        return -shrunk / ((self.beta + np.sqrt(n)) / self.alpha + self.l2)

    def refresh(self, keep: float) -> None:
        """Make the model learn faster again, keeping its weights: after a drift.

        FTRL's per-coordinate rate ``alpha / (beta + sqrt(n_i))`` falls as a
        feature is seen, so an old model adapts slowly to a change. This scales
        every ``n_i`` by ``keep`` (in ``(0, 1]``) and sets ``z_i`` so that each
        weight, and so every prediction, is unchanged: only the rates rise.
        """
        if not (isinstance(keep, int | float) and 0.0 < keep <= 1.0):
            raise ValueError(f"keep must be a number in (0, 1], got {keep!r}")
        touched = np.flatnonzero(self._n)
        w = self.weights[touched]
        n = self._n[touched] * keep
        z = -w * ((self.beta + np.sqrt(n)) / self.alpha + self.l2)
        # With L1, a nonzero weight sits |z| - l1 past zero; a zero weight keeps its z (|z| <= l1).
        z = np.where(w != 0.0, z + np.sign(z) * self.l1, self._z[touched])
        self._n[touched] = n
        self._z[touched] = z

    @property
    def examples_learned(self) -> int:
        """Examples passed to :meth:`learn_one` so far."""
        return self._learned

    @staticmethod
    def _checked(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Exact dtypes, so that the kernels compile once.
        indices = np.asarray(indices, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if indices.ndim != 1 or indices.shape != values.shape:
            raise ValueError("indices and values must be one-dimensional and of the same length, "
                             f"got shapes {indices.shape} and {values.shape}")
        return indices, values

    def _raise_invalid(self, indices: np.ndarray) -> None:
        size = 1 << self.bits
        if indices.size and not 0 <= int(indices.min()) <= int(indices.max()) < size:
            raise ValueError(f"indices must be in [0, {size}) (bits={self.bits}); "
                             "hash the features with the same bits; the model is unchanged")
        raise ValueError("values must be finite (no NaN or inf); the model is unchanged")
