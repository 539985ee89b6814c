"""Numba kernels behind operators/lyapunov.py and operators/embedding.py, module-level to pickle."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def delay_embed(x: np.ndarray, lag: int, dim: int, count: int) -> np.ndarray:
    """Return the first ``count`` delay vectors ``(x[i], x[i + lag], ..., x[i + (dim - 1) lag])``."""
    out = np.empty((count, dim))
    for i in range(count):
        for c in range(dim):
            out[i, c] = x[i + c * lag]
    return out


@numba.njit(cache=True)
def mutual_information_curve(codes: np.ndarray, bins: int, max_lag: int) -> np.ndarray:
    """Plug-in mutual information (nats) of ``codes[t]`` and ``codes[t + lag]``, lag 0..max_lag.

    ``codes`` holds each sample's histogram bin, ``0 <= codes < bins``.
    """
    n = codes.shape[0]
    out = np.zeros(max_lag + 1)
    joint = np.zeros((bins, bins))
    pa = np.zeros(bins)
    pb = np.zeros(bins)
    for lag in range(max_lag + 1):
        m = n - lag
        if m <= 0:
            break
        joint[:, :] = 0.0
        pa[:] = 0.0
        pb[:] = 0.0
        for t in range(m):
            a = codes[t]
            b = codes[t + lag]
            joint[a, b] += 1.0
            pa[a] += 1.0
            pb[b] += 1.0
        total = 0.0
        for a in range(bins):
            if pa[a] == 0.0:
                continue
            for b in range(bins):
                c = joint[a, b]
                if c > 0.0:
                    total += c * np.log(c * m / (pa[a] * pb[b]))
        out[lag] = total / m
    return out


@numba.njit(cache=True)
def nearest_neighbours(emb: np.ndarray, theiler: int, max_norm: bool,
                       stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbour of rows ``0, stride, 2 stride, ...`` of ``emb``, > ``theiler`` rows away.

    Only neighbours at a nonzero distance count; every row is a candidate.

    Exact search by sorted projection onto the first coordinate: candidates are
    visited in order of their projected distance, which bounds the true
    distance from below, so the scan stops as soon as it exceeds the best
    distance found. Returns the neighbour's row (-1 if none) and the distance
    (Euclidean, or the maximum norm if ``max_norm``; ``inf`` if none).
    """
    count, dim = emb.shape
    proj = emb[:, 0].copy()
    order = np.argsort(proj, kind="mergesort")
    rank = np.empty(count, dtype=np.int64)
    for p in range(count):
        rank[order[p]] = p
    nn = np.full(count, -1, dtype=np.int64)
    dist = np.full(count, np.inf)
    for i in range(0, count, stride):
        p = rank[i]
        lo = p - 1
        hi = p + 1
        xi = proj[i]
        best = np.inf  # squared for the Euclidean norm
        best_j = -1
        while True:
            gap_lo = xi - proj[order[lo]] if lo >= 0 else np.inf
            gap_hi = proj[order[hi]] - xi if hi < count else np.inf
            if gap_lo <= gap_hi:
                gap = gap_lo
                j = order[lo] if lo >= 0 else -1
                lo -= 1
            else:
                gap = gap_hi
                j = order[hi]
                hi += 1
            if gap == np.inf:
                break
            if max_norm:
                if gap >= best:
                    break
            elif gap * gap >= best:
                break
            if abs(i - j) <= theiler:
                continue
            d = 0.0
            if max_norm:
                for c in range(dim):
                    v = abs(emb[i, c] - emb[j, c])
                    if v > d:
                        d = v
                        if d >= best:
                            break
            else:
                for c in range(dim):
                    v = emb[i, c] - emb[j, c]
                    d += v * v
                    if d >= best:
                        break
            if 0.0 < d < best:
                best = d
                best_j = j
        nn[i] = best_j
        if best_j >= 0:
            dist[i] = best if max_norm else np.sqrt(best)
    return nn, dist


@numba.njit(cache=True)
def divergence_curve(emb: np.ndarray, nn: np.ndarray, horizon: int,
                     split: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Mean log distance between each row and its neighbour after k = 0..horizon steps.

    Rows ``i`` with a neighbour ``j`` take part when both ``i + horizon`` and
    ``j + horizon`` are rows of ``emb`` (Rosenstein et al. 1993, eq. 9); zero
    distances are left out of the mean. Returns the curve over all pairs, the
    curves of the pairs with ``i < split`` and with ``i >= split`` (NaN where
    no distance is nonzero), and the number of pairs.

    Logs are taken of running products of squared distances, renormalised
    before they can overflow or underflow, rather than of every distance: the
    curve costs about one logarithm per twenty distances.
    """
    count, dim = emb.shape
    total = np.zeros((2, horizon + 1))
    used = np.zeros((2, horizon + 1))
    product = np.ones((2, horizon + 1))
    pairs = 0
    for i in range(count - horizon):
        j = nn[i]
        if j < 0 or j + horizon >= count:
            continue
        pairs += 1
        side = 0 if i < split else 1
        for k in range(horizon + 1):
            d = 0.0
            for c in range(dim):
                v = emb[i + k, c] - emb[j + k, c]
                d += v * v
            if d > 0.0:
                used[side, k] += 1.0
                if d < 1e-100 or d > 1e100:
                    total[side, k] += np.log(d)
                    continue
                p = product[side, k] * d
                if p < 1e-150 or p > 1e150:
                    total[side, k] += np.log(p)
                    p = 1.0
                product[side, k] = p
    for side in range(2):
        for k in range(horizon + 1):
            total[side, k] = 0.5 * (total[side, k] + np.log(product[side, k]))
    curve = np.full(horizon + 1, np.nan)
    first = np.full(horizon + 1, np.nan)
    second = np.full(horizon + 1, np.nan)
    for k in range(horizon + 1):
        both = used[0, k] + used[1, k]
        if both > 0.0:
            curve[k] = (total[0, k] + total[1, k]) / both
        if used[0, k] > 0.0:
            first[k] = total[0, k] / used[0, k]
        if used[1, k] > 0.0:
            second[k] = total[1, k] / used[1, k]
    return curve, first, second, pairs


@numba.njit(cache=True)
def cao_statistics(x: np.ndarray, lag: int, dim: int, theiler: int,
                   stride: int) -> tuple[float, float]:
    """Cao's (1997) E(d) and E*(d) for ``d = dim``: mean growth of the neighbour distance into d+1.

    Neighbours are searched in dimension ``dim`` with the maximum norm, among
    the vectors that also exist in dimension ``dim + 1``, for every
    ``stride``-th vector.
    """
    count = x.shape[0] - dim * lag
    if count < 2:
        return np.nan, np.nan
    emb = delay_embed(x, lag, dim, count)
    nn, dist = nearest_neighbours(emb, theiler, True, stride)
    a_sum = 0.0
    e_sum = 0.0
    used = 0
    for i in range(count):
        j = nn[i]
        if j < 0:
            continue
        extra = abs(x[i + dim * lag] - x[j + dim * lag])
        d_next = max(dist[i], extra)
        a_sum += d_next / dist[i]
        e_sum += extra
        used += 1
    if used == 0:
        return np.nan, np.nan
    return a_sum / used, e_sum / used


@numba.njit(cache=True)
def longest_linear_segment(y: np.ndarray, min_len: int, tol: float) -> tuple[int, int]:
    """Find the longest run ``y[s..e]`` whose least-squares line has an RMS residual <= ``tol``.

    Among runs of equal length the steeper one wins. Every run of at least
    ``min_len`` points is tried, each in O(1) from running sums. Returns
    ``(-1, -1)`` when no run qualifies.
    """
    n = y.shape[0]
    s1 = np.zeros(n + 1)
    sy = np.zeros(n + 1)
    skk = np.zeros(n + 1)
    sky = np.zeros(n + 1)
    syy = np.zeros(n + 1)
    for k in range(n):
        s1[k + 1] = s1[k] + k
        sy[k + 1] = sy[k] + y[k]
        skk[k + 1] = skk[k] + k * k
        sky[k + 1] = sky[k] + k * y[k]
        syy[k + 1] = syy[k] + y[k] * y[k]
    best_s = -1
    best_e = -1
    best_slope = -np.inf
    limit = tol * tol
    for s in range(n):
        for e in range(s + min_len - 1, n):
            m = e - s + 1
            if e - s < best_e - best_s:
                continue
            a = s1[e + 1] - s1[s]
            b = sy[e + 1] - sy[s]
            var_k = skk[e + 1] - skk[s] - a * a / m
            cov = sky[e + 1] - sky[s] - a * b / m
            var_y = syy[e + 1] - syy[s] - b * b / m
            slope = cov / var_k
            sse = var_y - slope * cov
            if sse <= limit * m and (e - s > best_e - best_s or slope > best_slope):
                best_s = s
                best_e = e
                best_slope = slope
    return best_s, best_e
