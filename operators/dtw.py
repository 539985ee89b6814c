"""Dynamic time warping: distance, warping path, lower bounds, and best-match search over a stream.

Distances are Euclidean-style: the square root of the sum of local costs along
the best warping path, the local cost of two samples being their squared
difference, as in dtaidistance and the UCR suite. Series are 1-d, or ``n x d``
arrays of ``n`` samples of ``d`` dimensions, whose local cost is the squared
Euclidean distance of two rows (dependent multivariate DTW, dtaidistance's
``dtw_ndim`` convention).

``window`` is a Sakoe–Chiba radius in samples (Sakoe & Chiba 1978). For series
of equal length, cell ``(i, j)`` is allowed when ``|i - j| <= window``, so
``window=0`` is the Euclidean distance; ``None`` allows every cell. For lengths
``n != m`` the band follows dtaidistance: it is widened by the length
difference on the side of the longer series, cell ``(i, j)`` being allowed when
``-(window + max(0, n - m)) <= j - i <= window + max(0, m - n)``, so it holds
both corners' diagonals and always a path. dtaidistance's ``window`` counts
the diagonal: ``dtw_distance(a, b, window=r)`` equals
``dtaidistance.dtw.distance_fast(a, b, window=r + 1)``.

:class:`BestMatchSearch` is the UCR suite (Rakthanmanon et al., "Searching and
mining trillions of time series subsequences under dynamic time warping", KDD
2012) run on a stream: each sample closes one candidate window, which is
z-normalised in O(1) from running sums (taken around a shift near the mean,
so offsets far from zero cost no precision) and then pruned by the cascade LB_Kim,
LB_Keogh on the query envelope, LB_Keogh on the candidate envelope, and
early-abandoning DTW, so the answer is exact while most candidates cost O(1)
to O(m).

Examples
--------
>>> dtw_distance([0.0, 1.0, 2.0, 1.0], [0.0, 1.0, 1.0, 2.0, 1.0])
0.0
>>> dtw_path([0.0, 1.0, 2.0], [0.0, 2.0])
(1.0, [(0, 0), (1, 0), (2, 1)])
>>> search = BestMatchSearch([0.0, 1.0, 0.0, -1.0], window=1)
>>> search.update_many([5.0, 5.1, 5.0, 7.0, 9.0, 7.0, 5.0, 5.2])   # times the best improved
4
>>> best = search.best
>>> best.start, best.end, round(best.distance, 9)
(3, 6, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from midstream.operators._dtw_kernels import (
    dtw_path_cells,
    dtw_squared,
    dtw_squared_abandoning,
    inverse_std,
    lb_keogh_squared,
    lb_kim_squared,
    search_samples,
)
from midstream.operators._dtw_kernels import envelope as _envelope

_NO_BOUND = np.empty(0)

Series = Sequence[float] | Sequence[Sequence[float]] | np.ndarray
"""A 1-d sequence of samples, or ``n x d`` (``n`` samples of ``d`` dimensions)."""


class Match(NamedTuple):
    """A subsequence ``start..end`` (sample indices, inclusive) at DTW ``distance`` from a query."""

    start: int
    end: int
    distance: float

    @property
    def length(self) -> int:
        """Samples in the matched subsequence."""
        return self.end - self.start + 1


def as_series(values: Sequence[float] | np.ndarray, name: str,
              allow_empty: bool = False) -> np.ndarray:
    """``values`` as a contiguous 1-d float64 array, refusing NaN, inf and (unless allowed) empty.

    >>> as_series([1, 2], "x")
    array([1., 2.])
    """
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1 or (array.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def as_samples(values: Series, name: str) -> np.ndarray:
    """``values`` as a contiguous float64 array, 1-d or ``n x d``, non-empty and finite.

    >>> as_samples([[1, 2], [3, 4], [5, 6]], "x").shape
    (3, 2)
    """
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence or an n x d array "
                         f"(n samples of d >= 1 dimensions), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def _pair(a: Series, b: Series) -> tuple[np.ndarray, np.ndarray]:
    x = as_samples(a, "a")
    y = as_samples(b, "b")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"a and b must both be 1-d or both n x d with the same d, got shapes "
                         f"{x.shape} and {y.shape}")
    return x, y


def _radius(window: int | None, longest: int) -> int:
    if window is None:
        return longest
    if window < 0:
        raise ValueError(f"window must be None (no band) or an int >= 0, got {window}")
    return min(int(window), longest)


def _band(window: int | None, n: int, m: int) -> tuple[int, int]:
    """How far below and above the diagonal (``i - j`` and ``j - i``) cells are allowed."""
    radius = _radius(window, max(n, m))
    return min(n, radius + max(0, n - m)), min(m, radius + max(0, m - n))


def dtw_distance(a: Series, b: Series, *, window: int | None = None,
                 max_distance: float = math.inf) -> float:
    """Exact DTW distance of two series, optionally inside a Sakoe–Chiba band.

    Sakoe & Chiba (1978); the square root of the smallest sum of squared sample
    differences (squared Euclidean distances of rows, for ``n x d`` series) over
    warping paths from ``(0, 0)`` to ``(n - 1, m - 1)``.

    Parameters
    ----------
    a, b
        The series: 1-d, or ``n x d`` and ``m x d``; lengths may differ.
    window
        Sakoe–Chiba radius in samples (``0``: Euclidean); ``None`` for no band.
        For unequal lengths the band is widened as in dtaidistance (see the
        module docstring), whose ``window`` is this one plus 1.
    max_distance
        Stop and return ``inf`` as soon as the distance is known to exceed this
        (early abandoning, Rakthanmanon et al. 2012): what a nearest-neighbour
        loop needs. The default computes the distance without any test.

    Examples
    --------
    >>> dtw_distance([1, 2, 3], [1, 2, 2, 3])
    0.0
    >>> dtw_distance([0, 0, 1], [1, 0, 0], window=0)   # Euclidean
    1.4142135623730951
    >>> dtw_distance([[0, 0], [1, 1]], [[0, 0], [0, 0], [1, 2]])   # n x d: rows are samples
    1.0
    >>> dtw_distance([0, 0, 1], [1, 0, 0], max_distance=0.5)
    inf
    """
    x, y = _pair(a, b)
    below, above = _band(window, x.shape[0], y.shape[0])
    if not max_distance >= 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    if math.isinf(max_distance):
        return math.sqrt(dtw_squared(x, y, below, above))
    limit = max_distance * max_distance
    return math.sqrt(dtw_squared_abandoning(x, y, below, above, limit, _NO_BOUND))


def dtw_path(a: Series, b: Series, *,
             window: int | None = None) -> tuple[float, list[tuple[int, int]]]:
    """DTW distance and an optimal warping path, as ``(distance, [(i, j), ...])``.

    Same distance, inputs and ``window`` as :func:`dtw_distance` (Sakoe & Chiba
    1978). The path runs from ``(0, 0)`` to ``(len(a) - 1, len(b) - 1)``, each
    step adding 1 to ``i``, to ``j`` or to both; the square root of the sum of
    the local costs of its cells is the distance. It is found by walking back
    the accumulated cost matrix taking the cheapest predecessor, the diagonal
    first among ties (as dtaidistance's ``warping_path``). Memory is that of the
    band: ``len(a) x (2 window + 2)`` floats, or ``len(a) x len(b)`` with no band.

    Examples
    --------
    >>> distance, path = dtw_path([0, 1, 1, 2], [0, 1, 2, 2])
    >>> distance, path
    (0.0, [(0, 0), (1, 1), (2, 1), (3, 2), (3, 3)])
    >>> dtw_path([[0, 0], [3, 4]], [[0, 0], [0, 0], [0, 0]])
    (5.0, [(0, 0), (0, 1), (1, 2)])
    """
    x, y = _pair(a, b)
    below, above = _band(window, x.shape[0], y.shape[0])
    cells = np.empty((x.shape[0] + y.shape[0] - 1, 2), dtype=np.int64)
    squared, count = dtw_path_cells(x, y, below, above, cells)
    return math.sqrt(squared), [(int(i), int(j)) for i, j in cells[:count].tolist()]


def envelope(x: Sequence[float] | np.ndarray,
             window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower envelope of ``x``: max and min over ``[k - window, k + window]``.

    Computed in O(n) with Lemire's streaming min/max (2006); the envelope used
    by LB_Keogh (Keogh & Ratanamahatana 2005).

    Examples
    --------
    >>> upper, lower = envelope([0, 3, 1, 2], window=1)
    >>> upper.tolist(), lower.tolist()
    ([3.0, 3.0, 3.0, 2.0], [0.0, 0.0, 1.0, 1.0])
    """
    series = as_series(x, "x")
    radius = _radius(window, series.shape[0])
    upper = np.empty_like(series)
    lower = np.empty_like(series)
    _envelope(series, radius, upper, lower)
    return upper, lower


def lb_keogh(query: Series, candidate: Series, window: int | None) -> float:
    """LB_Keogh (Keogh & Ratanamahatana 2005): a lower bound of the banded DTW distance.

    Each candidate sample is compared with the envelope of the query over
    ``window`` samples either side (the UCR suite's bound, in the same square-root
    units as :func:`dtw_distance`). For ``n x d`` series the envelope is taken
    per dimension and the squared excursions are summed over dimensions, which
    bounds the squared Euclidean local cost (LB_MV, Rath & Manmatha 2002).
    Both series must have the same length; then
    ``lb_keogh(q, c, w) <= dtw_distance(q, c, window=w)``.

    Examples
    --------
    >>> q, c = [0.0, 1.0, 0.0, 1.0], [0.0, 3.0, 0.0, 1.0]
    >>> lb_keogh(q, c, window=1) <= dtw_distance(q, c, window=1)
    True
    >>> lb_keogh(q, c, window=1)
    2.0
    >>> lb_keogh([[0, 0], [1, 1]], [[0, 3], [1, 1]], window=1)   # only 3 leaves [0, 1]
    2.0
    """
    q = as_samples(query, "query")
    c = as_samples(candidate, "candidate")
    if q.shape != c.shape:
        raise ValueError(f"query and candidate must have the same shape, got "
                         f"{q.shape} and {c.shape}")
    if q.ndim == 1:
        upper, lower = envelope(q, window)
        order = np.arange(q.shape[0])
        contrib = np.empty_like(q)
        return math.sqrt(lb_keogh_squared(order, c, 0, 0.0, 1.0, upper, lower, contrib,
                                          math.inf))
    total = 0.0
    for k in range(q.shape[1]):
        upper, lower = envelope(q[:, k], window)
        column = c[:, k]
        total += float(np.sum(np.maximum(column - upper, 0.0) ** 2
                              + np.maximum(lower - column, 0.0) ** 2))
    return math.sqrt(total)


def lb_kim(query: Sequence[float] | np.ndarray, candidate: Sequence[float] | np.ndarray) -> float:
    """LB_KimFL of the UCR suite: a lower bound from the first and last three samples.

    O(1); valid for any band. Both sequences must have the same length.

    Examples
    --------
    >>> q, c = [0, 1, 2, 3, 4, 5, 6], [1, 1, 2, 3, 4, 5, 9]
    >>> lb_kim(q, c) <= dtw_distance(q, c)
    True
    >>> lb_kim(q, c)
    3.1622776601683795
    """
    q = as_series(query, "query")
    c = as_series(candidate, "candidate")
    if q.shape != c.shape:
        raise ValueError(f"query and candidate must have the same length, got "
                         f"{q.shape[0]} and {c.shape[0]}")
    return math.sqrt(lb_kim_squared(q, c, 0, 0.0, 1.0, math.inf))


def z_normalise(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` with the population std; a flat sequence maps to zeros.

    >>> z_normalise([1.0, 3.0]).tolist()
    [-1.0, 1.0]
    >>> z_normalise([2.0, 2.0]).tolist()
    [0.0, 0.0]
    """
    series = as_series(x, "x")
    mean = float(series.mean())
    centred = series - mean
    # Two passes: the only round-off left is the mean's, about 1e-16 of it per sample.
    return centred * inverse_std(float(np.mean(centred * centred)), 1e-24 * mean * mean)


class BestMatchSearch:
    """The subsequence of a stream nearest to a query under DTW, exact, updated per sample.

    Implements the UCR suite (Rakthanmanon et al., KDD 2012) over a stream:
    every window of ``len(query)`` samples is a candidate, compared with the
    query after both are z-normalised (Goldin & Kanellakis 1995), unless
    ``normalize=False``.

    Parameters
    ----------
    query
        The shape to look for (at least 2 samples).
    window
        Sakoe–Chiba radius in samples; ``None`` for no band. A narrow band
        (the UCR paper uses 5–10 % of the query) is what makes pruning work.
    normalize
        Compare z-normalised shapes (offset and scale free) or raw values.

    Examples
    --------
    >>> search = BestMatchSearch([0.0, 2.0, 0.0], window=0, normalize=False)
    >>> [search.update(x) for x in [0.0, 1.0, 0.0, 0.0, 2.0, 0.0]]  # doctest: +NORMALIZE_WHITESPACE
    [None, None, Match(start=0, end=2, distance=1.0),
     None, None, Match(start=3, end=5, distance=0.0)]
    >>> search.update(9.0), search.best, search.samples_seen
    (None, Match(start=3, end=5, distance=0.0), 7)
    """

    def __init__(self, query: Sequence[float] | np.ndarray, window: int | None = None,
                 normalize: bool = True) -> None:
        q = as_series(query, "query")
        m = q.shape[0]
        if m < 2:
            raise ValueError(f"query must have at least 2 samples, got {m}")
        self.query = q.copy()
        self.window = window
        self.normalize = normalize
        self._radius = _radius(window, m)
        self._q = z_normalise(q) if normalize else q.copy()
        # Largest normalised query values first: their LB_Keogh terms abandon soonest.
        self._order = np.argsort(-np.abs(self._q), kind="stable").astype(np.int64)
        self._q_upper = np.empty(m)
        self._q_lower = np.empty(m)
        _envelope(self._q, self._radius, self._q_upper, self._q_lower)
        self._buf = np.zeros(2 * m)
        self._sums = np.array([0.0, 0.0, 0.0, math.inf])
        self._counters = np.zeros(2, dtype=np.int64)
        self._stats = np.zeros(4, dtype=np.int64)
        self._cand = np.empty(m)
        self._c_upper = np.empty(m)
        self._c_lower = np.empty(m)
        self._contrib = np.zeros(m)
        self._contrib2 = np.zeros(m)
        self._cb = np.zeros(m)
        self._one = np.empty(1)

    def update(self, x: float) -> Match | None:
        """Add one sample; return the new best match if the window ending here is one."""
        if not math.isfinite(x):
            raise ValueError(f"samples must be finite, got {x}")
        self._one[0] = x
        if self._run(self._one):
            return self.best
        return None

    def update_many(self, samples: Sequence[float] | np.ndarray) -> int:
        """Add many samples at once (one kernel call); return how many improved the best."""
        return self._run(as_series(samples, "samples", allow_empty=True))

    def _run(self, samples: np.ndarray) -> int:
        return int(search_samples(samples, self._buf, self._sums, self._counters, self._q,
                                  self._order, self._q_upper, self._q_lower, self._radius,
                                  self.normalize, self._cand, self._c_upper, self._c_lower,
                                  self._contrib, self._contrib2, self._cb, self._stats))

    @property
    def best(self) -> Match | None:
        """The nearest window seen so far (the earliest among ties), or ``None`` before any."""
        if not math.isfinite(self._sums[3]):
            return None
        end = int(self._counters[1])
        m = self.query.shape[0]
        return Match(start=end - m + 1, end=end, distance=math.sqrt(self._sums[3]))

    @property
    def samples_seen(self) -> int:
        """Samples added so far."""
        return int(self._counters[0])

    @property
    def pruning(self) -> dict[str, int]:
        """Candidates discarded by each lower bound, and those that needed a full DTW."""
        kim, keogh_eq, keogh_ec, dtw = (int(v) for v in self._stats)
        return {"lb_kim": kim, "lb_keogh_eq": keogh_eq, "lb_keogh_ec": keogh_ec, "dtw": dtw}


def best_match(series: Sequence[float] | np.ndarray, query: Sequence[float] | np.ndarray,
               window: int | None = None, normalize: bool = True) -> Match | None:
    """Find the window of ``series`` nearest to ``query`` under DTW: :class:`BestMatchSearch` in batch.

    Returns ``None`` when the series is shorter than the query.

    Examples
    --------
    >>> match = best_match([3, 3, 4, 5, 4, 3, 3], [0, 1, 2, 1, 0], window=1)
    >>> match.start, match.end, round(match.distance, 9)
    (1, 5, 0.0)
    """
    search = BestMatchSearch(query, window=window, normalize=normalize)
    search.update_many(series)
    return search.best
