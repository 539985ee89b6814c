"""Delay-embedding parameters of a series: delay by mutual information, dimension by Cao's method.

A scalar series ``x`` is turned into state vectors
``(x[i], x[i + lag], ..., x[i + (dim - 1) lag])`` (Takens 1981). This module
chooses the two parameters from the data:

- the delay ``lag`` from the average mutual information between ``x[t]`` and
  ``x[t + lag]`` (Fraser & Swinney 1986): its first minimum, with a rule for
  maps and noise, whose mutual information decays to zero without one;
- the dimension ``dim`` from Cao's (1997) E1 statistic, the first dimension at
  which adding a coordinate no longer separates nearest neighbours.

Neighbour searches run in numba kernels (:mod:`midstream.operators._lyapunov_kernels`).

Examples
--------
>>> import numpy as np
>>> x = np.empty(3000); x[0] = 0.3
>>> for i in range(1, 3000):
...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
>>> mutual_information_lag(x), embedding_dimension(x, lag=1)
(1, 2)
"""

from __future__ import annotations

import math

import numpy as np

from midstream.operators._lyapunov_kernels import (
    cao_statistics,
    delay_embed,
    mutual_information_curve,
)

#: Queries per Cao neighbour search; longer series are subsampled to this many.
CAO_QUERIES = 2000


def _as_series(x: np.ndarray | list[float]) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def histogram_bins(n: int) -> int:
    """Bins per axis of the mutual-information histogram for ``n`` samples: cube root, 4..32.

    With ``b`` bins the joint histogram has ``b**2`` cells; the cube root keeps
    about ``n**(1/3)`` samples per cell, enough for the plug-in estimate.

    Examples
    --------
    >>> histogram_bins(300), histogram_bins(10_000), histogram_bins(10**6)
    (6, 21, 32)
    """
    return int(min(32, max(4, math.floor(n ** (1.0 / 3.0) + 1e-9))))


def mutual_information(x: np.ndarray | list[float], max_lag: int,
                       bins: int | None = None) -> np.ndarray:
    """Average mutual information (nats) between ``x[t]`` and ``x[t + lag]`` for lag 0..max_lag.

    Histogram (plug-in) estimate on ``bins`` equal-width bins between the
    minimum and the maximum (Fraser & Swinney, Phys. Rev. A 33, 1986). Entry 0
    is the entropy of the binned series. A constant series has no information:
    all zeros.

    Parameters
    ----------
    x
        The series, finite values.
    max_lag
        Largest lag, at least 0 and less than ``len(x)``.
    bins
        Bins per axis; default :func:`histogram_bins`.

    Examples
    --------
    >>> t = np.arange(2000)
    >>> ami = mutual_information(np.sin(2 * np.pi * t / 40), max_lag=20)
    >>> ami.shape, bool(ami[0] > ami[1] > ami[5])
    ((21,), True)
    """
    arr = _as_series(x)
    if not 0 <= max_lag < arr.shape[0]:
        raise ValueError(f"max_lag must be in 0..{arr.shape[0] - 1}, got {max_lag}")
    b = histogram_bins(arr.shape[0]) if bins is None else bins
    if b < 2:
        raise ValueError(f"bins must be >= 2, got {b}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must be finite (no NaN or inf)")
    lo = float(arr.min())
    span = float(arr.max()) - lo
    if span <= 0.0:
        return np.zeros(max_lag + 1)
    codes = np.minimum(((arr - lo) * (b / span)).astype(np.int64), b - 1)
    return mutual_information_curve(codes, b, max_lag)


def mutual_information_lag(x: np.ndarray | list[float], max_lag: int | None = None,
                           bins: int | None = None) -> int:
    """Embedding delay: the first minimum of the average mutual information.

    Rule (Fraser & Swinney 1986, with a fallback for series that have no
    minimum): walk ``lag = 1, 2, ...``; return the first ``lag`` with
    ``AMI(lag) < AMI(lag + 1)``, unless AMI has already decayed to the level
    of independent samples, ``max(3 (b - 1)**2 / (2 n), 0.1 AMI(1))`` nats
    (three times the plug-in bias for ``b`` bins and ``n`` samples, or a tenth
    of the lag-1 value), in which case return 1. Maps (logistic, Hénon) and
    noise forget their past within a few samples and reach that level without
    a minimum; for them lag 1 is the natural delay. A series whose AMI neither
    has a minimum nor decays by ``max_lag`` gets the first lag at which AMI
    falls below ``AMI(0) / e``, else ``max_lag``. Constant series get 1.

    Parameters
    ----------
    x
        The series, finite values, at least 8 samples.
    max_lag
        Largest lag tried; default ``min(len(x) // 4, 200)``.
    bins
        Histogram bins per axis; default :func:`histogram_bins`.

    Examples
    --------
    A sine with a period of 40 samples: the first minimum is near a quarter period.

    >>> t = np.arange(4000)
    >>> 6 <= mutual_information_lag(np.sin(2 * np.pi * t / 40)) <= 12
    True
    >>> mutual_information_lag(np.random.default_rng(0).normal(size=4000))
    1
    """
    arr = _as_series(x)
    n = arr.shape[0]
    if n < 8:
        raise ValueError(f"x needs at least 8 samples, got {n}")
    top = min(n // 4, 200) if max_lag is None else max_lag
    if not 1 <= top < n - 1:
        raise ValueError(f"max_lag must be in 1..{n - 2}, got {top}")
    b = histogram_bins(n) if bins is None else bins
    ami = mutual_information(arr, top + 1, b)
    if ami[0] <= 0.0:
        return 1
    floor = max(3.0 * (b - 1) ** 2 / (2.0 * n), 0.1 * ami[1])
    for lag in range(1, top + 1):
        if ami[lag] <= floor:
            return 1
        if ami[lag] < ami[lag + 1]:
            return lag
    below = np.nonzero(ami[1:top + 1] < ami[0] / math.e)[0]
    return int(below[0]) + 1 if below.size else top


def mean_period(x: np.ndarray | list[float]) -> float:
    """Mean period in samples: the reciprocal of the power-weighted mean frequency.

    Rosenstein et al. (Physica D 65, 1993) use it as the Theiler window of the
    neighbour search. ``inf`` for a constant series.

    Examples
    --------
    >>> round(mean_period(np.sin(2 * np.pi * np.arange(1000) / 25)), 1)
    25.0
    """
    arr = _as_series(x)
    spectrum = np.abs(np.fft.rfft(arr - arr.mean())) ** 2
    freqs = np.fft.rfftfreq(arr.shape[0])
    power = float(spectrum[1:].sum())
    if power <= 0.0 or not math.isfinite(power):
        return math.inf
    return power / float((freqs[1:] * spectrum[1:]).sum())


def delay_embedding(x: np.ndarray | list[float], lag: int, dim: int) -> np.ndarray:
    """Delay vectors ``(x[i], x[i + lag], ..., x[i + (dim - 1) lag])``, one per row (Takens 1981).

    Examples
    --------
    >>> delay_embedding(np.arange(6.0), lag=2, dim=2)
    array([[0., 2.],
           [1., 3.],
           [2., 4.],
           [3., 5.]])
    """
    arr = _as_series(x)
    if lag < 1 or dim < 1:
        raise ValueError(f"lag and dim must be >= 1, got lag={lag}, dim={dim}")
    count = arr.shape[0] - (dim - 1) * lag
    if count < 1:
        raise ValueError(f"x is too short ({arr.shape[0]}) for lag={lag}, dim={dim}")
    return delay_embed(arr, lag, dim, count)


def cao_ratios(x: np.ndarray | list[float], lag: int, max_dim: int,
               theiler: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cao's E1(d) and E2(d) for d = 1..max_dim (Cao, Physica D 110, 1997).

    ``E(d)`` is the mean ratio by which a point's nearest-neighbour distance
    (maximum norm) grows when the embedding goes from dimension ``d`` to
    ``d + 1``; ``E1(d) = E(d + 1) / E(d)`` approaches 1 once ``d`` unfolds the
    attractor. ``E2(d) = E*(d + 1) / E*(d)``, with ``E*(d)`` the mean distance
    of the added coordinates, stays near 1 at every ``d`` for noise, and not
    for deterministic series.

    Neighbours closer in time than ``theiler`` samples are skipped (default:
    the mean period, at least ``lag``), so an oversampled flow does not pair
    each point with its own successor. Series longer than
    :data:`CAO_QUERIES` vectors average over every ``k``-th vector.

    Returns
    -------
    (e1, e2)
        Arrays of length ``max_dim``; index ``d - 1`` holds dimension ``d``.
        Entries that cannot be computed (series too short) are NaN.

    Examples
    --------
    >>> x = np.empty(3000); x[:2] = 0.1, 0.0
    >>> for i in range(2, 3000):  # Hénon map, x component
    ...     x[i] = 1.0 - 1.4 * x[i - 1] ** 2 + 0.3 * x[i - 2]
    >>> e1, e2 = cao_ratios(x, lag=1, max_dim=4)
    >>> bool(e1[0] < 0.5 < 0.9 < e1[1])
    True
    """
    arr = _as_series(x)
    if lag < 1 or max_dim < 1:
        raise ValueError(f"lag and max_dim must be >= 1, got lag={lag}, max_dim={max_dim}")
    window = default_cao_theiler(arr, lag) if theiler is None else theiler
    e = np.full(max_dim + 2, np.nan)
    e_star = np.full(max_dim + 2, np.nan)
    for d in range(1, max_dim + 2):
        e[d], e_star[d] = _cao_point(arr, lag, d, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = e[2:] / e[1:-1]
        e2 = e_star[2:] / e_star[1:-1]
    return e1, e2


def _cao_point(arr: np.ndarray, lag: int, dim: int, theiler: int) -> tuple[float, float]:
    count = arr.shape[0] - dim * lag
    if count < 2 * theiler + 4:
        return math.nan, math.nan
    stride = max(1, count // CAO_QUERIES)
    e, e_star = cao_statistics(arr, lag, dim, theiler, stride)
    return float(e), float(e_star)


def default_cao_theiler(x: np.ndarray, lag: int) -> int:
    """Theiler window for Cao's neighbour search: the mean period, at least ``lag``, capped at n/10.

    Examples
    --------
    >>> default_cao_theiler(np.sin(2 * np.pi * np.arange(1000) / 25), lag=6)
    25
    """
    period = mean_period(x)
    cap = max(1, x.shape[0] // 10)
    window = cap if not math.isfinite(period) else math.ceil(period - 1e-9)
    return int(min(cap, max(lag, window)))


def embedding_dimension(x: np.ndarray | list[float], lag: int, max_dim: int = 10,
                        threshold: float = 0.9, theiler: int | None = None) -> int:
    """Minimum embedding dimension by Cao's method (Physica D 110, 1997).

    The first ``d`` with ``E1(d) >= threshold``: going to ``d + 1`` no longer
    separates nearest neighbours, so ``d`` unfolds the attractor. The
    dimensions are tried in order and the search stops there. Returns
    ``max_dim`` if E1 never gets there (typical of noise, whose E1 creeps
    towards 1 only slowly), and 1 for series too short to tell.

    Parameters
    ----------
    x
        The series, finite values.
    lag
        Embedding delay, e.g. from :func:`mutual_information_lag`.
    max_dim
        Largest dimension returned.
    threshold
        E1 level taken as saturated, in (0, 1].
    theiler
        Temporal exclusion for neighbours; see :func:`cao_ratios`.

    Examples
    --------
    >>> x = np.empty(3000); x[:2] = 0.1, 0.0
    >>> for i in range(2, 3000):  # Hénon map, x component
    ...     x[i] = 1.0 - 1.4 * x[i - 1] ** 2 + 0.3 * x[i - 2]
    >>> embedding_dimension(x, lag=1)
    2
    """
    arr = _as_series(x)
    if lag < 1 or max_dim < 1:
        raise ValueError(f"lag and max_dim must be >= 1, got lag={lag}, max_dim={max_dim}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    window = default_cao_theiler(arr, lag) if theiler is None else theiler
    previous = _cao_point(arr, lag, 1, window)[0]
    if not math.isfinite(previous):
        return 1
    for d in range(1, max_dim):
        following = _cao_point(arr, lag, d + 1, window)[0]
        if not math.isfinite(following):
            return d
        if following / previous >= threshold:
            return d
        previous = following
    return max_dim
