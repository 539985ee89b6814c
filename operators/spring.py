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
closest subsequence of the whole stream is always among the reports.

Distances are Euclidean-style, as in :mod:`operators.dtw`: the square root of
the sum of squared sample differences along the warping path (the paper sums
squared differences; ``threshold`` here is the square root of its epsilon).

Examples
--------
>>> spring = Spring([11.0, 6.0, 9.0, 4.0], threshold=4.0)
>>> found = [spring.update(x) for x in [5.0, 12.0, 6.0, 10.0, 6.0, 5.0, 13.0]]
>>> [(i, m) for i, ms in enumerate(found) for m in ms]
[(6, Match(start=1, end=4, distance=2.449489742783178))]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from operators._dtw_kernels import best_subsequence_squared, spring_samples
from operators.dtw import Match, as_series, z_normalise


class Spring:
    """Online subsequence matching under DTW with the SPRING algorithm (Sakurai et al. 2007).

    Parameters
    ----------
    query
        The pattern to find, in the same units as the stream.
    threshold
        Report subsequences whose DTW distance to ``query`` is at most this (the
        paper's epsilon, as a distance rather than a squared distance).
    window
        Optional Sakoe–Chiba radius, in samples, relative to each match's own
        start: sample ``t`` of a match starting at ``s`` may align with query
        sample ``i`` only when ``|t - s - i| <= window``; so a match is also at
        most ``window`` samples longer or shorter than the query. SPRING keeps
        one path per cell, its cheapest in-band one, so with a band a match can
        be missed when its cells hold a cheaper path from another start that
        later leaves the band; without a band SPRING is exact.
    znorm
        Compare shapes rather than values: the query is z-normalised, and each
        sample by the mean and standard deviation of the last ``len(query)``
        samples (a causal approximation of normalising each subsequence, which
        SPRING's single pass cannot do; flat stretches normalise to 0). The
        threshold is then in standard deviations.

    Examples
    --------
    >>> spring = Spring([0.0, 1.0, 0.0], threshold=0.5)
    >>> spring.update_many([5, 5, 0, 1, 1, 0, 5, 5, 0, 1, 0, 5])
    [Match(start=2, end=5, distance=0.0), Match(start=8, end=10, distance=0.0)]
    >>> spring.update_many([0, 1.5, 0])      # nothing certain yet ...
    []
    >>> spring.pending                       # ... until the stream ends
    Match(start=12, end=14, distance=0.5)
    >>> spring.flush(), spring.pending
    (Match(start=12, end=14, distance=0.5), None)
    """

    def __init__(self, query: Sequence[float] | np.ndarray, threshold: float,
                 window: int | None = None, znorm: bool = False) -> None:
        q = as_series(query, "query")
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
        self._q = z_normalise(q) if znorm else q.copy()
        self._radius = -1 if window is None else int(window)
        self._d = np.full(m + 1, math.inf)
        self._d[0] = 0.0
        self._s = np.zeros(m + 1, dtype=np.int64)
        self._d_new = np.empty(m + 1)
        self._s_new = np.empty(m + 1, dtype=np.int64)
        self._state = np.array([math.inf, 0.0, 0.0, 0.0])
        self._counters = np.zeros(3, dtype=np.int64)
        self._ring = np.zeros(m)
        self._one = np.empty(1)
        self._out1 = np.empty((1, 3))

    def update(self, x: float) -> list[Match]:
        """Add one sample; return the match it confirms, if any (at most one per sample)."""
        if not math.isfinite(x):
            raise ValueError(f"samples must be finite, got {x}")
        self._one[0] = x
        if self._run(self._one, self._out1):
            return [_match(self._out1[0])]
        return []

    def update_many(self, samples: Sequence[float] | np.ndarray) -> list[Match]:
        """Add many samples in one kernel call; return the matches they confirm, in order."""
        values = as_series(samples, "samples", allow_empty=True)
        out = np.empty((values.shape[0], 3))
        written = self._run(values, out)
        return [_match(row) for row in out[:written]]

    def _run(self, samples: np.ndarray, out: np.ndarray) -> int:
        return int(spring_samples(samples, self._q, self._d, self._s, self._d_new, self._s_new,
                                  self._state, self._counters, self.threshold * self.threshold,
                                  self._radius, self.znorm, self._ring, out))

    @property
    def pending(self) -> Match | None:
        """The best match so far that is not yet certain (a later sample may beat it)."""
        if not math.isfinite(self._state[0]):
            return None
        return Match(start=int(self._counters[1]), end=int(self._counters[2]),
                     distance=math.sqrt(self._state[0]))

    def flush(self) -> Match | None:
        """At the end of the stream: report the pending match, which is now final."""
        match = self.pending
        if match is not None:
            self._state[0] = math.inf
            # Like a report inside the stream: paths overlapping it may not report again.
            overlapping = self._s[1:] <= match.end
            self._d[1:][overlapping] = math.inf
        return match

    @property
    def samples_seen(self) -> int:
        """Samples added so far."""
        return int(self._counters[0])


def _match(row: np.ndarray) -> Match:
    return Match(start=int(row[0]), end=int(row[1]), distance=math.sqrt(row[2]))


def spring_matches(series: Sequence[float] | np.ndarray, query: Sequence[float] | np.ndarray,
                   threshold: float, window: int | None = None,
                   znorm: bool = False) -> list[Match]:
    """All matches SPRING reports over a whole series, including the one the end confirms.

    Examples
    --------
    >>> spring_matches([0, 0, 3, 4, 3, 0, 0, 3, 4.5, 3, 0], [3, 4, 3], threshold=1.0)
    [Match(start=2, end=4, distance=0.0), Match(start=7, end=9, distance=0.5)]
    """
    spring = Spring(query, threshold, window=window, znorm=znorm)
    matches = spring.update_many(series)
    last = spring.flush()
    return [*matches, last] if last is not None else matches


def best_subsequence(series: Sequence[float] | np.ndarray,
                     query: Sequence[float] | np.ndarray) -> Match:
    """The subsequence of ``series`` at the smallest DTW distance from ``query`` (any length).

    Subsequence DTW (the star-padded matrix of Sakurai et al. 2007) in
    O(len(series) * len(query)) time and O(len(query)) memory; the earliest-ending
    one among ties.

    Examples
    --------
    >>> best_subsequence([9, 9, 1, 2, 2, 3, 9], [1, 2, 3])
    Match(start=2, end=5, distance=0.0)
    """
    x = as_series(series, "series")
    q = as_series(query, "query")
    result = np.empty(3)
    best_subsequence_squared(x, q, result)
    return _match(result)
