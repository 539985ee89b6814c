"""SPRING: every non-overlapping subsequence of a stream within a DTW distance of a query.

Sakurai, Faloutsos and Yamamuro, "Stream Monitoring under the Time Warping
Distance", ICDE 2007. One column of a "star-padded" time warping matrix, which
lets a match start at any sample, is kept and carried forward with the index
where each path started, so each sample costs O(m) time and the state is O(m)
memory for a query of m samples, however long the stream.

A match is reported once it is certain that no later sample can produce an
overlapping subsequence that is closer, so reports lag the end of the match by
as little as one sample and by as much as the overlapping candidates last.
Among overlapping subsequences within ``threshold`` only the closest is reported
(the paper's disjoint-query semantics). The matrix keeps one path per cell, so
a qualifying subsequence whose cells are taken by a closer overlapping path is
not reported separately even if it does not overlap the reported match; the
closest subsequence of the whole stream is always among the reports. A report
also retires the paths that overlap it, so a later match's cells may hold a
costlier path than the best alignment of its span: the first report's distance
is the DTW distance of its span, a later one's is the cost of a warping path of
its span (never below that span's DTW distance, and within ``threshold``).

Distances are Euclidean-style, as in :mod:`midstream.operators.dtw`: the square root of
the sum of squared sample differences (squared Euclidean distances, for
``d``-dimensional samples) along the warping path (the paper sums squared
differences; ``threshold`` here is the square root of its epsilon).

Examples
--------
>>> spring = Spring([11.0, 6.0, 9.0, 4.0], threshold=4.0)
>>> found = [spring.update(x) for x in [5.0, 12.0, 6.0, 10.0, 6.0, 5.0, 13.0]]
>>> [(i, m) for i, ms in enumerate(found) for m in ms]
[(6, Match(start=1, end=4, distance=2.449489742783178))]
"""

from __future__ import annotations

import math

import numpy as np

from midstream.operators._dtw_kernels import best_subsequence_squared, spring_samples
from midstream.operators.dtw import Match, Series, as_samples, z_normalise


class Spring:
    """Online subsequence matching under DTW with the SPRING algorithm (Sakurai et al. 2007).

    Parameters
    ----------
    query
        The pattern to find, in the same units as the stream: 1-d, or ``m x d``
        for a stream of ``d``-dimensional samples (local cost: squared
        Euclidean distance of two samples, as in :func:`midstream.operators.dtw.dtw_distance`).
    threshold
        Report subsequences whose DTW distance to ``query`` is at most this (the
        paper's epsilon, as a distance rather than a squared distance).
    window
        Optional Sakoe–Chiba radius, in samples, relative to each match's own
        start: sample ``t`` of a match starting at ``s`` may align with query
        sample ``i`` only when ``|t - s - i| <= window``; so a match is also at
        most ``window`` samples longer or shorter than the query. That is the
        band of :func:`midstream.operators.dtw.dtw_distance` for equal lengths (a match's
        length is not known while it grows, so the band is not widened for
        unequal ones). SPRING keeps one path per cell, its cheapest in-band one,
        so with a band a match can be missed when its cells hold a cheaper path
        from another start that later leaves the band; without a band SPRING is
        exact. ``None``: no band.
    znorm
        Compare shapes rather than values: the query is z-normalised (each
        dimension on its own), and each sample by the mean and standard
        deviation of the last ``len(query)`` samples (per dimension), a causal
        approximation of normalising each subsequence, which SPRING's single
        pass cannot do; flat stretches normalise to 0. The threshold is then in
        standard deviations.

    Examples
    --------
    >>> spring = Spring([0.0, 1.0, 0.0], threshold=0.5)
    >>> spring.update([5, 5, 0, 1, 1, 0, 5, 5, 0, 1, 0, 5])
    [Match(start=2, end=5, distance=0.0), Match(start=8, end=10, distance=0.0)]
    >>> spring.update([0, 1.5, 0])           # nothing certain yet ...
    []
    >>> spring.pending                       # ... until the stream ends
    Match(start=12, end=14, distance=0.5)
    >>> spring.flush(), spring.pending
    (Match(start=12, end=14, distance=0.5), None)

    Two-dimensional samples: a d-vector is one sample, an ``n x d`` array a batch.

    >>> spring = Spring([[0, 0], [1, 1]], threshold=0.1)
    >>> spring.update([[5, 5], [0, 0], [1, 1]]), spring.update([9, 9])
    ([], [Match(start=1, end=2, distance=0.0)])
    """

    def __init__(self, query: Series, threshold: float, *, window: int | None = None,
                 znorm: bool = False) -> None:
        q = as_samples(query, "query")
        if not (threshold >= 0 and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold}")
        if window is not None and window < 0:
            raise ValueError(f"window must be None (no band) or an int >= 0, got {window}")
        if znorm and q.shape[0] < 2:
            raise ValueError(f"znorm needs a query of at least 2 samples, got {q.shape[0]}")
        self.query = q.copy()
        self.threshold = float(threshold)
        self.window = window
        self.znorm = znorm
        m = q.shape[0]
        self._dims = 1 if q.ndim == 1 else q.shape[1]
        columns = q.reshape(m, self._dims)
        self._q = (np.column_stack([z_normalise(columns[:, k]) for k in range(self._dims)])
                   if znorm else columns.copy())
        self._radius = -1 if window is None else int(window)
        self._d = np.full(m + 1, math.inf)
        self._d[0] = 0.0
        self._s = np.zeros(m + 1, dtype=np.int64)
        self._d_new = np.empty(m + 1)
        self._s_new = np.empty(m + 1, dtype=np.int64)
        self._state = np.zeros(1 + 3 * self._dims)
        self._state[0] = math.inf
        self._counters = np.zeros(3, dtype=np.int64)
        self._ring = np.zeros((self._dims, m))
        self._normed = np.zeros((1, self._dims))
        self._one = np.empty((1, 1))
        self._out1 = np.empty((1, 3))

    def update(self, x: float | Series) -> list[Match]:
        """Add one sample or a batch; return the matches now final, in order.

        For a 1-d query a number is one sample and a 1-d sequence a batch; for an
        ``m x d`` query a ``d``-vector is one sample and an ``n x d`` array a
        batch. A batch runs in one kernel call, and gives the same matches as
        its samples fed one at a time.
        """
        if self._dims == 1 and isinstance(x, float | int) and self.query.ndim == 1:
            if not math.isfinite(x):
                raise ValueError(f"samples must be finite, got {x}")
            self._one[0, 0] = x
            if self._run(self._one, self._out1):
                return [_match(self._out1[0])]
            return []
        values = np.ascontiguousarray(x, dtype=np.float64)
        if self.query.ndim == 1 and values.ndim <= 1:
            values = values.reshape(-1, 1)
        elif self.query.ndim == 2 and values.ndim == 1:
            values = values.reshape(1, -1)
        if values.ndim != 2 or values.shape[1] != self._dims:
            expected = ("a number or a 1-d batch" if self.query.ndim == 1 else
                        f"a {self._dims}-vector or an n x {self._dims} batch")
            raise ValueError(f"samples must be {expected}, got shape {np.shape(x)}")
        if not np.isfinite(values).all():
            raise ValueError("samples must be finite (no NaN or inf)")
        out = np.empty((values.shape[0], 3))
        written = self._run(values, out)
        return [_match(row) for row in out[:written]]

    def update_many(self, samples: Series) -> list[Match]:
        """Add a batch of samples: :meth:`update` of a batch (kept for callers that name it)."""
        values = np.asarray(samples, dtype=np.float64)
        if self.query.ndim == 2 and values.ndim == 1 and values.shape[0] == 0:
            values = values.reshape(0, self._dims)
        if values.ndim != self.query.ndim:
            raise ValueError(f"a batch must be {self.query.ndim}-d like the query, "
                             f"got shape {values.shape}")
        return self.update(values)

    def _run(self, samples: np.ndarray, out: np.ndarray) -> int:
        return int(spring_samples(samples, self._q, self._d, self._s, self._d_new, self._s_new,
                                  self._state, self._counters, self.threshold * self.threshold,
                                  self._radius, self.znorm, self._ring, self._normed, out))

    @property
    def pending(self) -> Match | None:
        """The best match so far that is not yet certain (a later sample may beat it)."""
        if not math.isfinite(self._state[0]):
            return None
        return Match(start=int(self._counters[1]), end=int(self._counters[2]),
                     distance=math.sqrt(self._state[0]))

    def flush(self) -> Match | None:
        """At the end of the stream: report the pending match, which is now final.

        Returns ``None`` when nothing is pending. The paths that overlap the
        reported match are retired, as after a report inside the stream, so the
        object can go on (a later :meth:`update` treats the stream as continuing).
        """
        match = self.pending
        if match is not None:
            self._state[0] = math.inf
            overlapping = self._s[1:] <= match.end
            self._d[1:][overlapping] = math.inf
        return match

    @property
    def samples_seen(self) -> int:
        """Samples added so far."""
        return int(self._counters[0])


def _match(row: np.ndarray) -> Match:
    return Match(start=int(row[0]), end=int(row[1]), distance=math.sqrt(row[2]))


def spring_matches(series: Series, query: Series, threshold: float, *,
                   window: int | None = None, znorm: bool = False) -> list[Match]:
    """All matches SPRING reports over a whole series, including the one the end confirms.

    Sakurai, Faloutsos and Yamamuro (ICDE 2007): :class:`Spring` in batch.

    Examples
    --------
    >>> spring_matches([0, 0, 3, 4, 3, 0, 0, 3, 4.5, 3, 0], [3, 4, 3], threshold=1.0)
    [Match(start=2, end=4, distance=0.0), Match(start=7, end=9, distance=0.5)]
    """
    spring = Spring(query, threshold, window=window, znorm=znorm)
    matches = spring.update_many(series)
    last = spring.flush()
    return [*matches, last] if last is not None else matches


def best_subsequence(series: Series, query: Series) -> Match:
    """Find the subsequence of ``series`` at the smallest DTW distance from ``query`` (any length).

    Subsequence DTW (the star-padded matrix of Sakurai et al. 2007) in
    O(len(series) * len(query)) time and O(len(query)) memory; the earliest-ending
    one among ties. Both 1-d, or ``n x d`` and ``m x d``.

    Examples
    --------
    >>> best_subsequence([9, 9, 1, 2, 2, 3, 9], [1, 2, 3])
    Match(start=2, end=5, distance=0.0)
    """
    x = as_samples(series, "series")
    q = as_samples(query, "query")
    if x.shape[1:] != q.shape[1:]:
        raise ValueError(f"series and query must both be 1-d or both n x d with the same d, "
                         f"got shapes {x.shape} and {q.shape}")
    result = np.empty(3)
    best_subsequence_squared(x.reshape(x.shape[0], -1), q.reshape(q.shape[0], -1), result)
    return _match(result)
