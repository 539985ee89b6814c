"""Numba kernel behind :mod:`midstream.operators.spectral_lines`: the lines of a power spectrum.

One pass over the spectrum instead of a dozen NumPy calls on arrays of a few
hundred values, where each call's overhead outweighed its work (the regime
classifier runs this every few samples of every stream).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def spectrum_lines(power: np.ndarray, rel_threshold: float, max_lines: int,
                   half: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the lines' peak bins (refined), their main-lobe power, and the power of all lobes.

    Lines are the local maxima of ``power`` (plateaus count once, at their left
    end; the end bins included) at or above ``rel_threshold`` of the strongest,
    strongest first (ties: the higher bin first), at most ``max_lines``. A line's
    lobe is ``half`` bins either side of its peak, less what stronger lines took.
    Peak positions are refined by a parabola through the log power.
    """
    m = power.shape[0]
    strongest = 0.0
    for k in range(m):
        if power[k] > strongest:
            strongest = power[k]
    threshold = rel_threshold * strongest
    candidates = np.empty(m, dtype=np.int64)
    found = 0
    for k in range(m):
        p = power[k]
        left = power[k - 1] if k > 0 else -1.0
        right = power[k + 1] if k < m - 1 else -1.0
        if p > left and p >= right and p >= threshold:
            candidates[found] = k
            found += 1
    # Strongest first; equal powers: the higher bin first (a stable sort, reversed).
    order = np.argsort(power[candidates[:found]], kind="mergesort")[::-1]
    count = min(found, max_lines)
    bins = np.empty(count, dtype=np.float64)
    lobes = np.empty(count, dtype=np.float64)
    covered = np.zeros(m, dtype=np.bool_)
    for i in range(count):
        k = candidates[order[i]]
        lo = max(k - half, 0)
        hi = min(k + half + 1, m)
        lobe = 0.0
        for j in range(lo, hi):
            if not covered[j]:
                lobe += power[j]
                covered[j] = True
        lobes[i] = lobe
        bins[i] = _refined(power, k)
    in_lobes = 0.0
    for j in range(m):
        if covered[j]:
            in_lobes += power[j]
    return bins, lobes, in_lobes


@numba.njit(cache=True)
def _refined(power: np.ndarray, k: int) -> float:
    if k == 0 or k == power.shape[0] - 1:
        return float(k)
    a = math.log(power[k - 1] + 1e-300)
    b = math.log(power[k] + 1e-300)
    c = math.log(power[k + 1] + 1e-300)
    denom = a - 2.0 * b + c
    if denom >= 0.0:
        return float(k)
    return k + 0.5 * (a - c) / denom
