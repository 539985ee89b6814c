"""Permutation entropy of a numeric series, in batch and incrementally over a sliding window.

Permutation entropy (Bandt & Pompe, "Permutation entropy: a natural complexity
measure for time series", Phys. Rev. Lett. 88, 174102, 2002) is the Shannon
entropy of the distribution of ordinal patterns: the orders in which
``order`` samples, ``delay`` apart, rise and fall. It depends only on ranks, so
it is unchanged by any increasing transform of the data; a decreasing one
(``x -> -x``) maps each pattern to its mirror image, which leaves the entropy
unchanged too as long as no two compared samples are equal. Equal samples rank
by order of occurrence.

The incremental :class:`PermutationEntropy` costs O(``order``) comparisons per
sample, independent of the window: the newest pattern's code is rolled forward
from the previous one (factorial-base rank digits, each corrected by one
comparison with the sample that left), and the entropy comes from window
histogram counts and a running sum of ``n log n`` terms.
"""

from __future__ import annotations

import math

import numpy as np

from midstream.operators._regime_kernels import permutation_entropy_kernel, permutation_entropy_step

MAX_ORDER = 8


def _check_order_delay(order: int, delay: int) -> None:
    if not 2 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an integer in 2..{MAX_ORDER}, got {order!r}")
    if delay < 1:
        raise ValueError(f"delay must be an integer >= 1, got {delay!r}")


def permutation_entropy(x: np.ndarray | list[float], order: int = 3, delay: int = 1,
                        normalize: bool = True) -> float:
    """Permutation entropy of a whole series (Bandt & Pompe 2002).

    Parameters
    ----------
    x
        The series, one dimension, finite values.
    order
        Pattern length, 2..8 (``order!`` possible patterns).
    delay
        Spacing, in samples, of the values in one pattern.
    normalize
        Divide by ``log(order!)`` so the result lies in [0, 1]; otherwise nats.

    Returns
    -------
    float
        The entropy; NaN when ``x`` is shorter than one pattern.

    Raises
    ------
    ValueError
        For a NaN or an infinity in ``x`` (an ordinal pattern needs an order).

    Examples
    --------
    >>> round(permutation_entropy([4, 7, 9, 10, 6, 11, 3], order=3), 3)   # the paper's example
    0.589
    >>> permutation_entropy(np.arange(50.0), order=4)    # monotone: one pattern only
    0.0
    >>> rng = np.random.default_rng(0)
    >>> permutation_entropy(rng.normal(size=20_000), order=4) > 0.99
    True
    """
    _check_order_delay(order, delay)
    values = np.ascontiguousarray(x, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("x must be finite (no NaN or inf)")
    h = float(permutation_entropy_kernel(values, order, delay))
    return h / math.log(math.factorial(order)) if normalize else h


class PermutationEntropy:
    """Permutation entropy of the last ``window`` samples, updated in O(1) per sample.

    Parameters
    ----------
    order
        Pattern length, 2..8.
    window
        Samples in the sliding window; it holds ``window - (order - 1) * delay``
        patterns, which must be at least 1.
    delay
        Spacing, in samples, of the values in one pattern.
    normalize
        Report entropy divided by ``log(order!)``, in [0, 1].

    Notes
    -----
    After each update, :attr:`value` equals
    ``permutation_entropy(last_window_samples, order, delay, normalize)`` on the last
    ``min(samples_seen, window)`` samples (NaN until one pattern is complete). A NaN or
    infinite sample raises ``ValueError`` and leaves the state as it was. The state
    is a handful of NumPy arrays; it pickles, and a restored copy continues identically.
    Bandt & Pompe, Phys. Rev. Lett. 88, 174102 (2002).

    Examples
    --------
    >>> pe = PermutationEntropy(order=3, window=7)
    >>> for v in [4, 7, 9, 10, 6, 11, 3]:
    ...     h = pe.update(v)
    >>> round(h, 3)
    0.589
    >>> pe.update(np.arange(20.0))      # a batch; the window is now monotone
    0.0
    """

    def __init__(self, order: int = 3, window: int = 100, delay: int = 1,
                 normalize: bool = True) -> None:
        _check_order_delay(order, delay)
        if window - (order - 1) * delay < 1:
            raise ValueError(
                f"window must be >= (order - 1) * delay + 1 = {(order - 1) * delay + 1}, "
                f"got {window!r}"
            )
        self.order = order
        self.window = window
        self.delay = delay
        self.normalize = normalize
        n_codes = window - (order - 1) * delay
        # [order, delay, samples seen, codes in window, next code slot]
        self._ints = np.array([order, delay, 0, 0, 0], dtype=np.int64)
        self._ring = np.zeros(order * delay + 1)
        self._digits = np.zeros((delay, order), dtype=np.int64)
        self._codes = np.zeros(n_codes, dtype=np.int64)
        self._counts = np.zeros(math.factorial(order), dtype=np.int64)
        k = np.arange(n_codes + 2, dtype=np.float64)
        self._nlogn = k * np.log(np.maximum(k, 1.0))
        self._sums = np.zeros(1)
        self._one = np.zeros(1)  # reused for single samples
        self._log_patterns = math.log(math.factorial(order))

    def update(self, x: float | np.ndarray) -> float:
        """Add one sample, or a batch in time order; return the entropy of the window now."""
        if isinstance(x, float | int):
            if not math.isfinite(x):
                raise ValueError(f"samples must be finite, got {x!r}; the state is unchanged")
            values = self._one
            values[0] = x
        else:
            values = np.ascontiguousarray(np.atleast_1d(x), dtype=np.float64)
            if values.ndim != 1:
                raise ValueError(
                    f"x must be a scalar or one-dimensional, got shape {values.shape}")
            if not np.all(np.isfinite(values)):
                raise ValueError("samples must be finite (no NaN or inf); the state is unchanged")
        h = permutation_entropy_step(values, self._ints, self._ring, self._digits, self._codes,
                                     self._counts, self._nlogn, self._sums)
        return h / self._log_patterns if self.normalize else h

    @property
    def value(self) -> float:
        """Entropy of the patterns in the window (NaN before the first complete pattern)."""
        n = int(self._ints[3])
        if n == 0:
            return math.nan
        h = math.log(n) - float(self._sums[0]) / n
        h = max(h, 0.0)  # the running sum can leave -1e-16 where the exact answer is 0
        return h / self._log_patterns if self.normalize else h

    @property
    def samples_seen(self) -> int:
        """Samples added so far."""
        return int(self._ints[2])
