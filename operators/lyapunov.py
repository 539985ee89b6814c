"""Largest Lyapunov exponent of a scalar series (Rosenstein et al. 1993), batch and sliding-window.

Method (M. T. Rosenstein, J. J. Collins, C. J. De Luca, "A practical method
for calculating largest Lyapunov exponents from small data sets", Physica D
65, 117-134, 1993):

1. Delay-embed the series, with the delay from the first minimum of the
   average mutual information and the dimension from Cao's method
   (:mod:`midstream.operators.embedding`), unless given.
2. Pair every delay vector with its nearest neighbour (Euclidean) that is more
   than ``theiler`` samples away in time (default: the mean period, at least
   ``lag * emb_dim``, at most a tenth of the series).
3. Follow each pair for ``k = 0..horizon`` steps; the mean log distance
   ``y(k)`` grows like ``lambda k`` until it saturates at the size of the
   attractor, measured as ``y_ref``, the mean log distance of random pairs.
4. Fit ``lambda`` on the scaling region, chosen by a fixed rule (see
   :func:`scaling_region`): the longest stretch of ``y(k)`` that a straight
   line fits within a tolerance, below 70% of the way from ``y(0)`` to
   ``y_ref``. That skips both the initial transient (neighbours not yet
   aligned with the unstable direction) and the bend into saturation.

``confident`` is True only when the curve shows genuine exponential divergence
(see :func:`largest_lyapunov`); periodic, quasi-periodic and noise series, and
short or degenerate windows, come out non-confident.

Neighbour search, divergence curve and segment search are numba kernels in
:mod:`midstream.operators._lyapunov_kernels`; 10,000 samples take 20-100 ms, a
streaming window of 400 a few milliseconds.

Examples
--------
>>> import numpy as np
>>> x = np.empty(5000); x[0] = 0.3
>>> for i in range(1, 5000):  # logistic map at r = 4: lambda = ln 2
...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
>>> result = largest_lyapunov(x)
>>> round(result.value, 2), result.confident
(0.69, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from midstream.operators._lyapunov_kernels import (
    delay_embed,
    divergence_curve,
    longest_linear_segment,
    nearest_neighbours,
)
from midstream.operators.compact_state import PackedState, pack_arrays, unpack_arrays
from midstream.operators.embedding import embedding_dimension, mean_period, mutual_information_lag

#: Fewer samples than this give a non-confident NaN result without any computation.
MIN_SAMPLES = 100
#: Embedding dimensions tried by Cao's method when ``emb_dim`` is not given.
MAX_EMB_DIM = 10
#: The divergence curve is followed for this many delays (at most a third of the series).
HORIZON_LAGS = 40
#: The scaling region lies below this fraction of the way from y(0) to saturation.
FIT_CEILING = 0.7
#: RMS residual allowed in the scaling region, as a fraction of the rise y_ref - y(0).
FIT_TOLERANCE = 0.01
#: Confidence needs at least this rise, in nats, from y(0) to saturation.
MIN_RISE = 2.0
#: ... the fitted line to climb at least this fraction of that rise ...
MIN_FIT_RISE = 0.3
#: ... the curve to come within this fraction of the rise from y_ref (it saturates) ...
SATURATION_GAP = 0.25
#: ... and the fit to have at least this r**2.
MIN_R2 = 0.98
#: ... and at most this many e-foldings per radian of the mean oscillation (2 pi / mean period).
MAX_EFOLDS_PER_RADIAN = 1.0
#: ... and neighbours at least this many nats closer (relative to y_ref) than in a surrogate.
MIN_DETERMINISM = 1.0
#: ... and the series to span at least this many mean periods (passes over the attractor).
MIN_PERIODS = 20.0
#: ... and the two halves of the reference points to agree on the slope within this fraction.
MAX_SPLIT_DISAGREEMENT = 0.25
#: Points whose neighbour distance is averaged in the surrogate check.
CLOSENESS_QUERIES = 2000
#: Random pairs used to measure the saturation level y_ref.
REFERENCE_PAIRS = 4000


@dataclass(frozen=True, slots=True)
class LyapunovResult:
    """A largest-Lyapunov-exponent estimate.

    Attributes
    ----------
    value
        The exponent per time unit (per-sample slope / ``dt``); NaN when the
        input could not be analysed.
    lag, emb_dim
        The embedding used.
    fit_range
        ``(k_start, k_end)``, in samples, of the fitted scaling region of the
        divergence curve (inclusive).
    r2
        Coefficient of determination of that fit.
    confident
        True when the series shows clean exponential divergence, so ``value``
        is a trustworthy positive exponent. False for periodic,
        quasi-periodic, noise, short, degenerate or otherwise unclear input:
        then ``value`` is only the slope of the best segment found.
    theiler
        Temporal exclusion window of the neighbour search, in samples.
    reason
        Why the result is not confident ("" when it is).
    """

    value: float
    lag: int
    emb_dim: int
    fit_range: tuple[int, int]
    r2: float
    confident: bool
    theiler: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Divergence:
    """The mean log divergence curve of neighbour pairs and its saturation level.

    ``curve[k]`` is the mean over pairs of ``ln |Y_i+k - Y_j+k|`` (NaN where
    every pair has distance 0); ``reference`` is the mean log distance of
    random pairs of delay vectors, the level at which ``curve`` saturates for
    chaotic data; ``pairs`` is the number of neighbour pairs averaged.
    ``halves`` are the curves of the pairs whose reference point lies in the
    first and in the second half of the series, for a consistency check.
    """

    curve: np.ndarray
    reference: float
    pairs: int
    halves: tuple[np.ndarray, np.ndarray]


def _validate(dt: float, lag: int | None, emb_dim: int | None, theiler: int | None) -> None:
    if not (math.isfinite(dt) and dt > 0.0):
        raise ValueError(f"dt must be a positive finite number, got {dt}")
    if lag is not None and lag < 1:
        raise ValueError(f"lag must be None (automatic) or >= 1, got {lag}")
    if emb_dim is not None and emb_dim < 1:
        raise ValueError(f"emb_dim must be None (automatic) or >= 1, got {emb_dim}")
    if theiler is not None and theiler < 0:
        raise ValueError(f"theiler must be None (automatic) or >= 0, got {theiler}")


def default_theiler(x: np.ndarray, lag: int, emb_dim: int) -> int:
    """Theiler window: the mean period (Rosenstein 1993), at least ``lag * emb_dim``, at most n/10.

    Examples
    --------
    >>> default_theiler(np.sin(2 * np.pi * np.arange(1000) / 25), lag=6, emb_dim=2)
    25
    """
    period = mean_period(x)
    cap = max(1, x.shape[0] // 10)
    window = cap if not math.isfinite(period) else math.ceil(period - 1e-9)
    return int(min(cap, max(lag * emb_dim, window)))


def default_horizon(n: int, lag: int, emb_dim: int) -> int:
    """Count the steps the divergence curve is followed: ``HORIZON_LAGS`` delays, at most a third of the data.

    Examples
    --------
    >>> default_horizon(10_000, lag=1, emb_dim=2), default_horizon(300, lag=17, emb_dim=3)
    (40, 88)
    """
    count = n - (emb_dim - 1) * lag
    return int(max(1, min(HORIZON_LAGS * lag, count // 3)))


def divergence(x: np.ndarray | list[float], lag: int, emb_dim: int, theiler: int,
               horizon: int) -> Divergence:
    """Rosenstein's mean log divergence of nearest-neighbour pairs, k = 0..horizon.

    Each delay vector whose trajectory can be followed for ``horizon`` steps
    is paired with its nearest neighbour (Euclidean, nonzero distance, more
    than ``theiler`` samples away) among those vectors (Rosenstein et al.
    1993, eq. 9-10).

    Examples
    --------
    >>> x = np.empty(3000); x[0] = 0.3
    >>> for i in range(1, 3000):
    ...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
    >>> d = divergence(x, lag=1, emb_dim=1, theiler=5, horizon=20)
    >>> round(float(d.curve[6] - d.curve[1]) / 5, 2)
    0.69
    """
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    count = arr.shape[0] - (emb_dim - 1) * lag
    if count - horizon < 2 * theiler + 3:
        raise ValueError(
            f"{arr.shape[0]} samples are too few for lag={lag}, emb_dim={emb_dim}, "
            f"theiler={theiler}, horizon={horizon}"
        )
    emb = delay_embed(arr, lag, emb_dim, count)
    nn, _ = nearest_neighbours(emb[: count - horizon], theiler, False, 1)
    curve, first, second, pairs = divergence_curve(emb, nn, horizon, nn.shape[0] // 2)
    return Divergence(curve=curve, reference=_reference_level(emb, theiler), pairs=pairs,
                      halves=(first, second))


def _reference_level(emb: np.ndarray, theiler: int) -> float:
    """Mean log distance of random pairs of delay vectors (fixed seed, so deterministic)."""
    count = emb.shape[0]
    rng = np.random.default_rng(0)
    a = rng.integers(0, count, REFERENCE_PAIRS)
    b = rng.integers(0, count, REFERENCE_PAIRS)
    keep = np.abs(a - b) > theiler
    d = np.sqrt(((emb[a[keep]] - emb[b[keep]]) ** 2).sum(axis=1))
    d = d[d > 0.0]
    return float(np.log(d).mean()) if d.size else -math.inf


def scaling_region(curve: np.ndarray, reference: float, min_len: int) -> tuple[int, int]:
    """Fit the scaling region ``(k_start, k_end)`` of a divergence curve, or ``(-1, -1)``.

    Rule: let ``rise = reference - curve[0]``. Keep the curve up to the last
    point before it first exceeds ``curve[0] + FIT_CEILING * rise``
    (saturation bends the curve beyond). In that part, take the longest run of
    at least ``min_len`` points that a least-squares line fits with an RMS
    residual of at most ``FIT_TOLERANCE * rise`` (ties: the steeper). The
    initial transient, whose slope differs, falls outside the run.

    Examples
    --------
    >>> k = np.arange(40.0)
    >>> curve = np.minimum(-8.0 + 0.5 * k, 0.0)  # slope 0.5, saturating at 0
    >>> scaling_region(curve, reference=0.0, min_len=5)
    (0, 11)
    """
    finite = np.isfinite(curve)
    if not finite.all() or not math.isfinite(reference):
        return -1, -1
    rise = reference - curve[0]
    if rise <= 0.0:
        return longest_linear_segment(curve, min_len, 1e-3)
    above = np.nonzero(curve > curve[0] + FIT_CEILING * rise)[0]
    end = int(above[0]) if above.size else curve.shape[0]
    if end < min_len:
        return -1, -1
    return longest_linear_segment(np.ascontiguousarray(curve[:end]), min_len,
                                  FIT_TOLERANCE * rise)


def _line_fit(y: np.ndarray) -> tuple[float, float]:
    """Slope and r**2 of the least-squares line through ``(k, y[k])``."""
    k = np.arange(y.shape[0], dtype=np.float64)
    kc = k - k.mean()
    yc = y - y.mean()
    slope = float((kc * yc).sum() / (kc * kc).sum())
    ss = float((yc * yc).sum())
    resid = yc - slope * kc
    r2 = 1.0 - float((resid * resid).sum()) / ss if ss > 0.0 else 0.0
    return slope, r2


def largest_lyapunov(x: np.ndarray | list[float], *, dt: float = 1.0, lag: int | None = None,
                     emb_dim: int | None = None, theiler: int | None = None) -> LyapunovResult:
    """Largest Lyapunov exponent by Rosenstein et al. (Physica D 65, 1993), per time unit.

    Parameters
    ----------
    x
        The series, one dimension.
    dt
        Time between samples; ``value`` is the per-sample slope / ``dt``.
    lag
        Embedding delay; default: :func:`midstream.operators.embedding.mutual_information_lag`.
    emb_dim
        Embedding dimension; default: :func:`midstream.operators.embedding.embedding_dimension`
        (Cao 1997, up to ``MAX_EMB_DIM``), but at least 2, where the surrogate
        check below can tell determinism from noise.
    theiler
        Neighbours closer in time are skipped; default :func:`default_theiler`.

    Returns
    -------
    LyapunovResult
        ``confident`` requires all of: the curve rises at least ``MIN_RISE``
        nats from ``y(0)`` to the random-pair level ``y_ref`` (room for
        exponential growth), and gets within ``SATURATION_GAP`` of that rise
        from ``y_ref`` (neighbours really separate to the size of the
        attractor, which rules out periodic and quasi-periodic orbits, where
        they stay close); the scaling region is longer than twice the
        embedding window ``(emb_dim - 1) * lag`` and at least 5 samples (noise
        decorrelates within one window); its line climbs at least
        ``MIN_FIT_RISE`` of the rise with ``r2 >= MIN_R2``; and the slope is
        positive but at most ``MAX_EFOLDS_PER_RADIAN`` per radian of the mean
        oscillation (slope <= 2 pi / mean period, per sample). A smooth
        signal's sample-to-sample map is close to the identity, so nearby
        states cannot separate much faster than the signal turns; a faster
        apparent divergence comes from false neighbours of a poorly unfolded
        embedding (seen on short windows of quasi-periodic tones). Maps, with
        mean periods of 2-4 samples, are allowed 1.5-3 e-folds per step;
        Lorenz, Hénon and the logistic map use 0.2-0.45 of the allowance.
        The pairs from the first and the second half of the series, fitted on
        the same region, must agree within ``MAX_SPLIT_DISAGREEMENT``.
        The series must span ``MIN_PERIODS`` mean periods: Rosenstein's
        neighbours come from other passes over the same part of the
        attractor, and a short window of a slow signal has too few.
        When all that holds, a final determinism check (Theiler et al. 1992):
        the same neighbour search on :func:`phase_randomised`, a surrogate
        with the same spectrum, must find neighbours at least
        ``MIN_DETERMINISM`` nats farther apart relative to ``y_ref``. Noisy
        tones and coloured noise fail it (their surrogate looks the same);
        chaotic attractors, being low-dimensional, pass by 1.5-4.5 nats.

    Raises
    ------
    ValueError
        Only for invalid arguments: ``x`` not one-dimensional, ``dt`` not
        positive and finite, ``lag`` or ``emb_dim`` below 1, ``theiler``
        negative. Input that merely cannot be analysed (fewer than
        ``MIN_SAMPLES`` samples, NaN or inf, a constant, too short for the
        embedding) gives a non-confident result with ``value`` NaN and the
        cause in ``reason``, so a streaming caller never has to catch.

    Examples
    --------
    >>> x = np.empty(3000); x[:2] = 0.1, 0.0
    >>> for i in range(2, 3000):  # Hénon map, x component: lambda = 0.419
    ...     x[i] = 1.0 - 1.4 * x[i - 1] ** 2 + 0.3 * x[i - 2]
    >>> r = largest_lyapunov(x)
    >>> r.lag, r.emb_dim, abs(r.value - 0.419) < 0.03, r.confident
    (1, 2, True, True)
    >>> largest_lyapunov(np.sin(np.arange(3000) / 4.0)).confident
    False
    >>> largest_lyapunov([1.0] * 50).reason
    'too short: 50 samples, need 100'
    """
    _validate(dt, lag, emb_dim, theiler)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {arr.shape}")
    n = arr.shape[0]

    def unusable(reason: str, used_lag: int | None = lag, used_dim: int | None = emb_dim,
                 window: int = 0) -> LyapunovResult:
        return LyapunovResult(math.nan, used_lag or 1, used_dim or 1, (0, 0), math.nan, False,
                              window, reason)

    if n < MIN_SAMPLES:
        return unusable(f"too short: {n} samples, need {MIN_SAMPLES}")
    if not np.all(np.isfinite(arr)):
        return unusable("NaN or inf in the input")
    # The exponent ignores offset and scale; map to [0, 1] so no distance over- or underflows.
    arr = arr / float(np.abs(arr).max() or 1.0)
    low = float(arr.min())
    span = float(arr.max()) - low
    if span <= 1e-12:
        return unusable("constant input")
    arr = np.ascontiguousarray((arr - low) / span)
    used_lag = mutual_information_lag(arr) if lag is None else lag
    if (n - 1) // used_lag < 8:
        return unusable(f"too short for lag={used_lag}", used_lag)
    used_dim = (max(2, embedding_dimension(arr, used_lag, MAX_EMB_DIM)) if emb_dim is None
                else emb_dim)
    window = default_theiler(arr, used_lag, used_dim) if theiler is None else theiler
    horizon = default_horizon(n, used_lag, used_dim)
    count = n - (used_dim - 1) * used_lag
    if count - horizon < 2 * window + 3:
        return unusable(f"too short for lag={used_lag}, emb_dim={used_dim}, theiler={window}",
                        used_lag, used_dim, window)
    div = divergence(arr, used_lag, used_dim, window, horizon)
    period = mean_period(arr)
    result = _estimate(div, dt, used_lag, used_dim, window, period)
    if result.confident and n < MIN_PERIODS * period:
        return replace(result, confident=False, reason=(
            f"the series spans only {n / period:.1f} mean periods, need {MIN_PERIODS:g}"))
    if result.confident:
        gap = (float(div.curve[0]) - div.reference) - _closeness(
            phase_randomised(arr), used_lag, used_dim, window, horizon)
        if not gap <= -MIN_DETERMINISM:
            return replace(result, confident=False, reason=(
                f"neighbours only {-gap:.2f} nats closer than in a phase-randomised surrogate"))
    return result


def _closeness(x: np.ndarray, lag: int, emb_dim: int, theiler: int, horizon: int) -> float:
    """``curve[0] - reference`` of :func:`divergence`, without following the pairs.

    Averaged over at most ``CLOSENESS_QUERIES`` evenly spaced points.
    """
    count = x.shape[0] - (emb_dim - 1) * lag
    emb = delay_embed(x, lag, emb_dim, count)
    stride = max(1, (count - horizon) // CLOSENESS_QUERIES)
    _, dist = nearest_neighbours(emb[: count - horizon], theiler, False, stride)
    dist = dist[np.isfinite(dist)]
    if not dist.size:
        return math.inf
    return float(np.log(dist).mean()) - _reference_level(emb, theiler)


def phase_randomised(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Make a Fourier surrogate: same power spectrum and mean, random phases (Theiler et al. 1992).

    It keeps every linear property of ``x`` (autocorrelation, spectral lines)
    and destroys nonlinear determinism. The seed is fixed, so results are
    reproducible.

    Examples
    --------
    >>> x = np.random.default_rng(1).normal(size=256)
    >>> s = phase_randomised(x)
    >>> bool(np.allclose(np.abs(np.fft.rfft(s)), np.abs(np.fft.rfft(x))))
    True
    """
    spectrum = np.fft.rfft(x - x.mean())
    rng = np.random.default_rng(seed)
    phases = np.asarray(rng.uniform(0.0, 2.0 * np.pi, spectrum.shape[0]), dtype=np.float64)
    phases[0] = 0.0
    if x.shape[0] % 2 == 0:
        phases[-1] = 0.0
    return np.fft.irfft(np.abs(spectrum) * np.exp(1j * phases), n=x.shape[0]) + x.mean()


def _estimate(div: Divergence, dt: float, lag: int, emb_dim: int, theiler: int,
              period: float) -> LyapunovResult:
    curve = div.curve
    min_len = max(5, 2 * (emb_dim - 1) * lag + 1)
    start, end = scaling_region(curve, div.reference, min_len)
    if start < 0:
        return LyapunovResult(math.nan, lag, emb_dim, (0, 0), math.nan, False, theiler,
                              "no linear scaling region in the divergence curve")
    slope, r2 = _line_fit(curve[start:end + 1])
    rise = div.reference - float(curve[0])
    reasons = []
    if not rise >= MIN_RISE:
        reasons.append(f"neighbours start only {rise:.2f} nats below saturation")
    elif float(np.max(curve)) < div.reference - SATURATION_GAP * rise:
        reasons.append("neighbours never separate to the attractor size")
    if end - start + 1 < min_len:
        reasons.append("scaling region too short")
    if not slope * (end - start) >= MIN_FIT_RISE * rise:
        reasons.append("scaling region covers too little of the divergence")
    if not r2 >= MIN_R2:
        reasons.append(f"poor linear fit (r2={r2:.3f})")
    if not slope > 0.0:
        reasons.append("no divergence")
    elif slope * period > 2.0 * math.pi * MAX_EFOLDS_PER_RADIAN:
        reasons.append("divergence implausibly fast for the signal's mean period")
    else:
        first, second = (_line_fit(h[start:end + 1])[0] for h in div.halves)
        if not abs(first - second) <= MAX_SPLIT_DISAGREEMENT * slope:
            reasons.append(f"the two halves disagree (slopes {first / dt:.3g}, {second / dt:.3g})")
    return LyapunovResult(slope / dt, lag, emb_dim, (start, end), r2, not reasons, theiler,
                          "; ".join(reasons))


class SlidingLyapunov:
    """Largest Lyapunov exponent over a sliding window of a stream, every ``every`` samples.

    Keeps the last ``window`` samples in a NumPy ring buffer and, on every
    ``every``-th sample, runs :func:`largest_lyapunov` on them (on fewer while
    the buffer fills; results on fewer than ``MIN_SAMPLES`` samples are
    non-confident NaNs). The state is plain arrays and numbers, so it
    pickles, and a restored copy continues identically.

    Parameters
    ----------
    window
        Samples analysed, at least ``MIN_SAMPLES``.
    every
        Samples between results, at least 1.
    dt, lag, emb_dim, theiler
        As for :func:`largest_lyapunov`. Fixing ``lag`` and ``emb_dim`` makes
        every result comparable and saves the embedding search.

    Examples
    --------
    >>> x = np.empty(1200); x[0] = 0.3
    >>> for i in range(1, 1200):
    ...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
    >>> sliding = SlidingLyapunov(window=500, every=250)
    >>> results = sliding.update(x)
    >>> len(results), [round(r.value, 1) for r in results if r.confident]
    (4, [0.7, 0.7, 0.7, 0.7])
    >>> sliding.update(0.5) is None
    True
    """

    def __init__(self, window: int, every: int, *, dt: float = 1.0, lag: int | None = None,
                 emb_dim: int | None = None, theiler: int | None = None) -> None:
        if window < MIN_SAMPLES:
            raise ValueError(f"window must be >= {MIN_SAMPLES}, got {window}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        _validate(dt, lag, emb_dim, theiler)
        self.window = window
        self.every = every
        self.dt = dt
        self.lag = lag
        self.emb_dim = emb_dim
        self.theiler = theiler
        # The ring grows to ``window`` as samples arrive: most streams are short, and a
        # job holds one of these per open stream.
        self._ring = np.zeros(min(window, 64))
        self._seen = 0
        self.last: LyapunovResult | None = None
        """The most recent result."""

    def __getstate__(self) -> PackedState:
        """Pickle compactly (:mod:`midstream.operators.compact_state`)."""
        return pack_arrays(self.__dict__, ('_ring',))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        self.__dict__.update(unpack_arrays(state))

    def update(self, x: float | Sequence[float] | np.ndarray
               ) -> LyapunovResult | list[LyapunovResult] | None:
        """Add one sample, or a batch.

        For one sample (a number): the fresh result if this sample completes
        ``every``, else None. For a batch (a sequence or array): the list of
        results due within it, in order, possibly empty.
        """
        if isinstance(x, int | float):  # one sample: the hot path of a stream operator
            return self._add(float(x))
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 0:
            return self._add(float(arr))
        out = []
        for value in arr.ravel():
            result = self._add(float(value))
            if result is not None:
                out.append(result)
        return out

    def _add(self, value: float) -> LyapunovResult | None:
        if self._seen == self._ring.shape[0] < self.window:
            grown = np.zeros(min(self.window, 2 * self._seen))
            grown[: self._seen] = self._ring
            self._ring = grown
        self._ring[self._seen % self.window] = value
        self._seen += 1
        if self._seen % self.every:
            return None
        self.last = largest_lyapunov(self.values(), dt=self.dt, lag=self.lag,
                                     emb_dim=self.emb_dim, theiler=self.theiler)
        return self.last

    def values(self) -> np.ndarray:
        """Return the samples in the window, oldest first (a copy)."""
        if self._seen < self.window:
            return self._ring[: self._seen].copy()
        start = self._seen % self.window
        return np.concatenate((self._ring[start:], self._ring[:start]))

    @property
    def samples_seen(self) -> int:
        """Samples added so far."""
        return self._seen
