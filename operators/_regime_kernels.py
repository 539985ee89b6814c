"""Numba kernels behind permutation entropy, the 0–1 test and the regime classifier.

Module-level functions over NumPy buffers that the operator classes own, so the
classes stay picklable.

Ordinal patterns are coded in the factorial number system: for a pattern
``w[0..m-1]`` (oldest first), digit ``i`` is the number of earlier values that are
strictly greater, ``#{j < i : w[j] > w[i]}`` (between 0 and ``i``), and the code is
``sum(digit[i] * i!)``, an integer in ``[0, m!)``. Equal values therefore rank by
order of occurrence, the usual convention (Bandt & Pompe 2002).
"""

from __future__ import annotations

import numba
import numpy as np

# Fast-math flags that let LLVM reorder (and so vectorise) floating-point sums, without the
# no-NaN / no-infinity assumptions, which would break comparisons with np.inf.
REASSOCIATE = {"reassoc", "contract", "arcp", "nsz"}


@numba.njit(cache=True)
def ordinal_codes(x: np.ndarray, order: int, delay: int) -> np.ndarray:
    """Code of the ordinal pattern of ``x[t], x[t+delay], ..., x[t+(order-1)*delay]`` for each t."""
    span = (order - 1) * delay
    n = x.shape[0] - span
    codes = np.zeros(max(n, 0), dtype=np.int64)
    for t in range(n):
        code = 0
        weight = 1
        for i in range(1, order):
            wi = x[t + i * delay]
            digit = 0
            for j in range(i):
                if x[t + j * delay] > wi:
                    digit += 1
            weight *= i
            code += digit * weight
        codes[t] = code
    return codes


@numba.njit(cache=True)
def pattern_entropy(codes: np.ndarray, n_patterns: int) -> float:
    """Shannon entropy (nats) of the empirical distribution of ``codes`` in ``[0, n_patterns)``."""
    n = codes.shape[0]
    if n == 0:
        return np.nan
    counts = np.zeros(n_patterns, dtype=np.int64)
    for k in range(n):
        counts[codes[k]] += 1
    s = 0.0
    for c in counts:
        if c > 0:
            s += c * np.log(c)
    return np.log(n) - s / n


@numba.njit(cache=True)
def permutation_entropy_kernel(x: np.ndarray, order: int, delay: int) -> float:
    """Permutation entropy in nats (not normalised) of a whole series."""
    n_patterns = 1
    for i in range(2, order + 1):
        n_patterns *= i
    return pattern_entropy(ordinal_codes(x, order, delay), n_patterns)


@numba.njit(cache=True)
def permutation_entropy_step(values: np.ndarray, ints: np.ndarray, ring: np.ndarray,
                             digits: np.ndarray, codes: np.ndarray, counts: np.ndarray,
                             nlogn: np.ndarray, sums: np.ndarray) -> float:
    """Feed ``values`` to an incremental permutation-entropy state, O(order) work per sample.

    Returns the entropy (nats) of the window afterwards, NaN before the first pattern.

    State layout (all owned by :class:`midstream.operators.permutation_entropy.PermutationEntropy`):

    - ``ints = [order, delay, seen, n_codes_in_window, code_head]``;
    - ``ring``: the last ``order * delay + 1`` samples, sample ``t`` at ``t % len(ring)``;
    - ``digits[phase]``: factorial-base digits of the latest pattern ending at a time
      ``t`` with ``t % delay == phase`` (row valid once that phase has had one pattern);
    - ``codes``: ring of the codes of the patterns inside the window;
    - ``counts``: histogram of those codes; ``nlogn[k] = k log k``;
    - ``sums[0]``: running ``sum(counts * log(counts))``.

    The pattern ending at ``t`` is the one ending at ``t - delay`` with its oldest value
    dropped and ``x[t]`` appended, so every digit changes by at most one comparison.
    """
    order = ints[0]
    delay = ints[1]
    size = ring.shape[0]
    span = (order - 1) * delay
    capacity = codes.shape[0]
    for k in range(values.shape[0]):
        t = ints[2]
        v = values[k]
        ring[t % size] = v
        ints[2] = t + 1
        if t < span:
            continue
        phase = t % delay
        d = digits[phase]
        if t - span < delay:
            # First pattern of this phase: build its digits from scratch.
            for i in range(order):
                wi = ring[(t - span + i * delay) % size]
                digit = 0
                for j in range(i):
                    if ring[(t - span + j * delay) % size] > wi:
                        digit += 1
                d[i] = digit
        else:
            dropped = ring[(t - span - delay) % size]
            for i in range(order - 1):
                wi = ring[(t - span + i * delay) % size]
                d[i] = d[i + 1] - (1 if dropped > wi else 0)
            digit = 0
            for j in range(order - 1):
                if ring[(t - span + j * delay) % size] > v:
                    digit += 1
            d[order - 1] = digit
        code = 0
        weight = 1
        for i in range(1, order):
            weight *= i
            code += d[i] * weight
        # Window histogram and running sum of n log n.
        filled = ints[3]
        head = ints[4]
        if filled == capacity:
            old = codes[head]
            c = counts[old]
            sums[0] += nlogn[c - 1] - nlogn[c]
            counts[old] = c - 1
        else:
            ints[3] = filled + 1
        codes[head] = code
        ints[4] = (head + 1) % capacity
        c = counts[code]
        sums[0] += nlogn[c + 1] - nlogn[c]
        counts[code] = c + 1
    n = ints[3]
    if n == 0:
        return np.nan
    # The running sum can leave -1e-16 where the exact answer is 0.
    return max(np.log(n) - sums[0] / n, 0.0)


@numba.njit(cache=True, fastmath=REASSOCIATE)
def zero_one_k_per_c(phi: np.ndarray, cs: np.ndarray, n_cut: int) -> np.ndarray:
    """Gottwald–Melbourne (2009) correlation statistic ``K_c`` for each frequency ``c``.

    For each ``c``: translation variables ``p(n) = sum_{j<=n} phi(j) cos(jc)`` and
    ``q(n)`` with ``sin``; mean-square displacement ``M(n)`` over the available ``j``;
    the modified ``D(n) = M(n) - mean(phi)^2 (1 - cos nc) / (1 - cos c)``; and ``K_c``,
    the correlation coefficient of ``D(n)`` with ``n`` for ``n = 1..n_cut``. A constant
    ``D`` (no growth at all) gives ``K_c = 0``.
    """
    n = phi.shape[0]
    mean = 0.0
    for j in range(n):
        mean += phi[j]
    mean /= n
    mean2 = mean * mean
    out = np.zeros(cs.shape[0])
    p = np.empty(n)
    q = np.empty(n)
    d = np.empty(n_cut)
    # Correlation against xi = 1..n_cut: its mean and centred norm are fixed.
    xi_mean = (n_cut + 1) / 2.0
    xi_ss = 0.0
    for k in range(1, n_cut + 1):
        xi_ss += (k - xi_mean) ** 2
    for ci in range(cs.shape[0]):
        c = cs[ci]
        cos_c = np.cos(c)
        sin_c = np.sin(c)
        # cos(jc), sin(jc) by rotation, renormalised now and then against drift.
        cj = cos_c
        sj = sin_c
        ps = 0.0
        qs = 0.0
        for j in range(n):
            ps += phi[j] * cj
            qs += phi[j] * sj
            p[j] = ps
            q[j] = qs
            cj, sj = cj * cos_c - sj * sin_c, sj * cos_c + cj * sin_c
            if j % 64 == 63:
                norm = np.sqrt(cj * cj + sj * sj)
                cj /= norm
                sj /= norm
        denom = 1.0 - cos_c
        for lag in range(1, n_cut + 1):
            acc = 0.0
            for j in range(n - lag):
                dp = p[j + lag] - p[j]
                dq = q[j + lag] - q[j]
                acc += dp * dp + dq * dq
            d[lag - 1] = acc / (n - lag) - mean2 * (1.0 - np.cos(lag * c)) / denom
        d_mean = 0.0
        for k in range(n_cut):
            d_mean += d[k]
        d_mean /= n_cut
        cov = 0.0
        d_ss = 0.0
        for k in range(n_cut):
            dd = d[k] - d_mean
            cov += (k + 1 - xi_mean) * dd
            d_ss += dd * dd
        if d_ss > 0.0 and xi_ss > 0.0:
            out[ci] = cov / np.sqrt(xi_ss * d_ss)
    return out


@numba.njit(cache=True)
def mirrored_permutation_entropy(x: np.ndarray, order: int, counts: np.ndarray,
                                 mirror: bool) -> float:
    """Mean of the permutation entropies (nats, delay 1) of ``x`` and ``-x``.

    The two are equal when no two samples in a pattern are equal, and ``mirror=False``
    then computes one. With ties (quantised data) the occurrence-order convention makes
    them differ, and their mean keeps a statistic exactly invariant under ``x -> -x``.
    ``counts`` is scratch space of ``2 * order!`` integers.
    """
    n_patterns = counts.shape[0] // 2
    counts[:] = 0
    n = x.shape[0] - order + 1
    if n <= 0:
        return np.nan
    for t in range(n):
        up = 0
        down = 0
        weight = 1
        for i in range(1, order):
            wi = x[t + i]
            greater = 0
            less = 0
            for j in range(i):
                wj = x[t + j]
                if wj > wi:
                    greater += 1
                elif wj < wi:
                    less += 1
            weight *= i
            up += greater * weight
            down += less * weight
        counts[up] += 1
        if mirror:
            counts[n_patterns + down] += 1
    h = 0.0
    halves = 2 if mirror else 1
    for half in range(halves):
        s = 0.0
        for k in range(half * n_patterns, (half + 1) * n_patterns):
            c = counts[k]
            if c > 0:
                s += c * np.log(c)
        h += np.log(n) - s / n
    return h / halves


@numba.njit(cache=True)
def surrogate_entropies(gaussian: np.ndarray, sorted_values: np.ndarray, order: int,
                        mirror: bool) -> np.ndarray:
    """Mirrored permutation entropy of amplitude-adjusted surrogates, two per row of ``gaussian``.

    Row ``r`` of ``gaussian`` is a Fourier-phase surrogate of the window's Gaussianised
    version; it and its negative are mapped by rank onto the window's own values
    (``sorted_values``, ascending; Theiler et al. 1992, AAFT), so surrogates repeat the
    window's ties exactly. The surrogate set is closed under negation. With
    ``mirror=False`` (a window without ties) one entropy per row is returned.
    """
    rows = gaussian.shape[0]
    n = sorted_values.shape[0]
    n_patterns = 1
    for i in range(2, order + 1):
        n_patterns *= i
    counts = np.zeros(2 * n_patterns, dtype=np.int64)
    if not mirror:
        # Without ties the rank mapping is monotone and the negative mirrors every pattern:
        # neither changes the entropy, so each row stands for its pair as it is.
        out = np.empty(rows)
        for r in range(rows):
            out[r] = mirrored_permutation_entropy(gaussian[r], order, counts, False)
        return out
    out = np.empty(2 * rows)
    s = np.empty(n)
    for r in range(rows):
        rank_order = np.argsort(gaussian[r])
        for k in range(n):
            s[rank_order[k]] = sorted_values[k]
        out[2 * r] = mirrored_permutation_entropy(s, order, counts, mirror)
        for k in range(n):
            s[rank_order[k]] = sorted_values[n - 1 - k]
        out[2 * r + 1] = mirrored_permutation_entropy(s, order, counts, mirror)
    return out


@numba.njit(cache=True, fastmath=REASSOCIATE)
def best_repeat_lag(z: np.ndarray, max_lag: int) -> tuple[int, float, float]:
    """Find the lag of best exact repetition: ``p`` in ``2..max_lag`` minimising the error.

    The error is ``mean((z[t] - z[t-p])^2) / (2 var z)`` (ties go to the shorter lag);
    returns ``(p, error at p, error at lag 1)``.

    The error is near 0 for a sequence that repeats with period ``p`` (or a multiple), and
    near ``1 - acf(p)`` otherwise. The lag-1 error tells smoothness (an oversampled flow
    "repeats" at short lags) from true repetition.
    """
    n = z.shape[0]
    mean = 0.0
    for t in range(n):
        mean += z[t]
    mean /= n
    var = 0.0
    for t in range(n):
        var += (z[t] - mean) ** 2
    var /= n
    if var == 0.0:
        return 1, 0.0, 0.0
    best_lag = 0
    best = np.inf
    first = np.inf
    for p in range(1, max(max_lag, 1) + 1):
        acc = 0.0
        for t in range(p, n):
            d = z[t] - z[t - p]
            acc += d * d
        err = acc / (n - p) / (2.0 * var)
        if p == 1:
            first = err
        elif err < best * 0.999:
            best = err
            best_lag = p
    return best_lag, best, first


@numba.njit(cache=True)
def settling(z: np.ndarray, quarter: int) -> tuple[float, float, float]:
    """RMS of the last and first ``quarter`` samples, and the largest deviation, about the tail's median.

    The fixed-point stage's three amplitudes in one pass (see ``regime._fixed_point_stage``).
    """
    n = z.shape[0]
    level = np.median(z[n - quarter:])
    tail = 0.0
    head = 0.0
    for i in range(quarter):
        d = z[n - quarter + i] - level
        tail += d * d
        d = z[i] - level
        head += d * d
    peak = 0.0
    for i in range(n):
        d = abs(z[i] - level)
        if d > peak:
            peak = d
    return np.sqrt(tail / quarter), np.sqrt(head / quarter), peak


@numba.njit(cache=True)
def ordinal_summary(values: np.ndarray, order: int, scores: np.ndarray
                    ) -> tuple[float, np.ndarray, bool, np.ndarray]:
    """Return what the surrogate test needs of a window, in one call.

    Returns the mirrored permutation entropy (nats), the values sorted, whether
    any two are equal, and ``scores`` (the normal scores) placed by the values'
    ranks (equal values rank by order of occurrence).
    """
    n = values.shape[0]
    ordered = np.sort(values)
    ties = False
    for i in range(1, n):
        if ordered[i] == ordered[i - 1]:
            ties = True
            break
    n_patterns = 1
    for i in range(2, order + 1):
        n_patterns *= i
    counts = np.zeros(2 * n_patterns, dtype=np.int64)
    entropy = mirrored_permutation_entropy(values, order, counts, ties)
    by_rank = np.empty(n)
    rank_order = np.argsort(values, kind="mergesort")
    for rank in range(n):
        by_rank[rank_order[rank]] = scores[rank]
    return entropy, ordered, ties, by_rank


@numba.njit(cache=True)
def mean_and_sample_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``) of ``x``, at least two values."""
    n = x.shape[0]
    mean = 0.0
    for v in x:
        mean += v
    mean /= n
    ss = 0.0
    for v in x:
        ss += (v - mean) * (v - mean)
    return mean, np.sqrt(ss / (n - 1))


@numba.njit(cache=True)
def standardise(values: np.ndarray) -> np.ndarray:
    """Scale ``values`` to zero mean and unit variance (to at most 1 in magnitude first).

    Scaling first means no overflow near 1e308. The caller has checked that the
    values are finite and not constant.
    """
    n = values.shape[0]
    peak = 0.0
    for v in values:
        if abs(v) > peak:
            peak = abs(v)
    z = values / peak
    mean = 0.0
    for v in z:
        mean += v
    mean /= n
    ss = 0.0
    for i in range(n):
        z[i] -= mean
        ss += z[i] * z[i]
    std = np.sqrt(ss / n)
    for i in range(n):
        z[i] /= std
    return z
