"""Numba kernels behind midstream.operators.dtw and .spring: module-level, so the classes pickle.

Every cost here is the squared difference of two samples and every accumulated
distance is a sum of such costs; the public modules take the square root.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba.extending import overload

INF = np.inf


@numba.njit(cache=True)
def inverse_std(var: float, noise: float) -> float:
    """``1 / sqrt(var)``, or 0 when ``var`` is within round-off ``noise`` of 0 (a flat run).

    A flat run then normalises to zeros instead of to amplified round-off.
    """
    if var > noise:
        return 1.0 / np.sqrt(var)
    return 0.0


def squared_distance(x: np.ndarray, i: int, y: np.ndarray, j: int) -> float:
    """Local DTW cost of sample ``x[i]`` and sample ``y[j]``: their squared Euclidean distance.

    Samples are scalars (1-d series) or rows (``n x d`` series, the dtaidistance
    ``dtw_ndim`` convention). Kernels call it and numba compiles the variant
    for the arrays' dimension (see the overload below); this body is the
    plain-Python meaning of it.
    """
    diff = np.asarray(x[i], dtype=np.float64) - np.asarray(y[j], dtype=np.float64)
    return float(np.sum(diff * diff))


@overload(squared_distance)
def _squared_distance(x: Any, i: Any, y: Any, j: Any) -> Any:
    # numba wants the implementation's annotations to be the overload's, hence Any.
    if x.ndim == 1:
        def scalar(x: Any, i: Any, y: Any, j: Any) -> Any:
            diff = x[i] - y[j]
            return diff * diff
        return scalar

    def rows(x: Any, i: Any, y: Any, j: Any) -> Any:
        total = 0.0
        for k in range(x.shape[1]):
            diff = x[i, k] - y[j, k]
            total += diff * diff
        return total
    return rows


@numba.njit(cache=True)
def band_rows(k: int, n: int, m: int, below: int, above: int) -> tuple[int, int]:
    """First and last row ``i`` (1-based) of anti-diagonal ``i + j = k`` inside the band.

    Cell ``(i, j)`` of an ``n x m`` matrix is in the band when
    ``-below <= j - i <= above``.
    """
    return max(1, k - m, (k - above + 1) // 2), min(n, k - 1, (k + below) // 2)


@numba.njit(cache=True)
def dtw_squared(a: np.ndarray, b: np.ndarray, below: int, above: int) -> float:
    """Squared DTW of ``a`` and ``b`` over the cells with ``-below <= j - i <= above``.

    Computed by anti-diagonals (``i + j`` constant): the cells of one
    anti-diagonal depend only on the two before it, never on each other, so the
    inner loop has no carried dependency and no branch, and LLVM turns it into
    SIMD minimum and add instructions. Each cell is still
    ``cost + min(up-left, up, left)`` with the same operands as the row-by-row
    recurrence, so the result is bit-for-bit the textbook one. Memory: three
    anti-diagonals, O(len(a)). The band must hold both corners' diagonals
    (``below >= max(0, n - m)``, ``above >= max(0, m - n)``, both >= 0): then it
    holds a path and each anti-diagonal's rows are one run, possibly empty.
    """
    n = a.shape[0]
    m = b.shape[0]
    # b reversed: along an anti-diagonal j falls as i rises, so both walks are contiguous.
    flipped = b[::-1].copy()
    diagonals = np.full((3, n + 1), INF)
    diagonals[0, 0] = 0.0  # cell (0, 0) of the padded matrix; anti-diagonal 1 is all inf
    for k in range(2, n + m + 1):
        lo, hi = band_rows(k, n, m, below, above)  # lo == hi + 1: no cell (odd k, narrow band)
        # Cell (i, k - i): up-left is on anti-diagonal k - 2, up and left on k - 1.
        up_left = diagonals[(k - 2) % 3, lo - 1:hi]
        up = diagonals[(k - 1) % 3, lo - 1:hi]
        left = diagonals[(k - 1) % 3, lo:hi + 1]
        current = diagonals[k % 3]
        out = current[lo:hi + 1]
        rows = a[lo - 1:hi]
        columns = flipped[m - k + lo:m - k + hi + 1]
        for t in range(hi - lo + 1):
            out[t] = min(up_left[t], up[t], left[t]) + squared_distance(rows, t, columns, t)
        # The run moves by at most one row per anti-diagonal: one inf on each side suffices
        # (for an empty run these two are the cells the next anti-diagonal reads).
        current[lo - 1] = INF
        if hi < n:
            current[hi + 1] = INF
    return float(diagonals[(n + m) % 3, n])


@numba.njit(cache=True)
def dtw_squared_abandoning(a: np.ndarray, b: np.ndarray, below: int, above: int, limit: float,
                           cb: np.ndarray) -> float:
    """Squared DTW of ``a`` and ``b`` in the band ``-below <= j - i <= above``, or inf.

    Row by row, returning inf as soon as every cell of a row of ``a`` exceeds
    ``limit`` (early abandoning, Rakthanmanon et al. 2012). When ``cb`` is not
    empty, ``cb[k]`` is a lower bound on the cost still to come from columns
    ``k..`` of ``b`` (a cumulative LB_Keogh), which tightens the abandoning test.
    Slower per cell than :func:`dtw_squared`; use it only with a finite ``limit``.
    """
    n = a.shape[0]
    m = b.shape[0]
    prev = np.full(m + 1, INF)
    cur = np.full(m + 1, INF)
    prev[0] = 0.0
    use_cb = cb.shape[0] > 0
    for i in range(1, n + 1):
        lo = max(1, i - below)
        hi = min(m, i + above)
        if lo > hi:
            return INF
        cur[lo - 1] = INF
        row_min = INF
        left = INF
        for j in range(lo, hi + 1):
            value = min(prev[j - 1], prev[j], left) + squared_distance(a, i - 1, b, j - 1)
            cur[j] = value
            left = value
            row_min = min(row_min, value)
        if hi < m:
            cur[hi + 1] = INF
        if use_cb and hi < m:
            row_min += cb[hi]
        if row_min > limit:
            return INF
        prev, cur = cur, prev
    return float(prev[m])


@numba.njit(cache=True)
def _cell(matrix: np.ndarray, first: np.ndarray, i: int, j: int) -> float:
    column = j - first[i]
    if 0 <= column < matrix.shape[1]:
        return matrix[i, column]
    return INF


@numba.njit(cache=True)
def dtw_path_cells(a: np.ndarray, b: np.ndarray, below: int, above: int,
                   path: np.ndarray) -> tuple[float, int]:
    """Squared DTW of ``a`` and ``b`` in the band, and its warping path written into ``path``.

    The accumulated cost matrix is kept for the band only (row ``i`` holds
    columns ``first[i]..``), then walked back from ``(n, m)`` to ``(1, 1)``
    taking the cheapest predecessor, the diagonal first among ties (as
    dtaidistance's ``best_path``). ``path`` needs ``n + m - 1`` rows; the
    ``(i, j)`` pairs (0-based) are written from its row 0 on, start to end,
    and their number is returned with the squared distance (0 pairs: no path).
    """
    n = a.shape[0]
    m = b.shape[0]
    width = min(m, below + above + 1) + 1
    matrix = np.full((n + 1, width), INF)
    first = np.zeros(n + 1, dtype=np.int64)
    matrix[0, 0] = 0.0
    for i in range(1, n + 1):
        lo = max(1, i - below)
        hi = min(m, i + above)
        first[i] = lo - 1
        if lo > hi:
            return INF, 0
        for j in range(lo, hi + 1):
            best = min(_cell(matrix, first, i - 1, j - 1), _cell(matrix, first, i - 1, j),
                       _cell(matrix, first, i, j - 1))
            matrix[i, j - first[i]] = best + squared_distance(a, i - 1, b, j - 1)
    total = _cell(matrix, first, n, m)
    if total == INF:
        return INF, 0
    count = 0
    i = n
    j = m
    while True:
        path[count, 0] = i - 1
        path[count, 1] = j - 1
        count += 1
        if i == 1 and j == 1:
            break
        diagonal = _cell(matrix, first, i - 1, j - 1)
        up = _cell(matrix, first, i - 1, j)
        left = _cell(matrix, first, i, j - 1)
        if diagonal <= up and diagonal <= left:
            i -= 1
            j -= 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    path[:count] = path[:count][::-1].copy()
    return total, count


@numba.njit(cache=True)
def envelope(x: np.ndarray, radius: int, upper: np.ndarray, lower: np.ndarray) -> None:
    """Write the running max and min of ``x`` over ``[k - radius, k + radius]`` into ``upper``/``lower``.

    Lemire's streaming min/max (2006): two monotone deques, O(len(x)).
    """
    n = x.shape[0]
    maxq = np.empty(n, dtype=np.int64)
    minq = np.empty(n, dtype=np.int64)
    max_head = 0
    max_tail = 0
    min_head = 0
    min_tail = 0
    for k in range(n + radius):
        if k < n:
            v = x[k]
            while max_tail > max_head and x[maxq[max_tail - 1]] <= v:
                max_tail -= 1
            maxq[max_tail] = k
            max_tail += 1
            while min_tail > min_head and x[minq[min_tail - 1]] >= v:
                min_tail -= 1
            minq[min_tail] = k
            min_tail += 1
        centre = k - radius
        if centre >= 0:
            while maxq[max_head] < centre - radius:
                max_head += 1
            while minq[min_head] < centre - radius:
                min_head += 1
            upper[centre] = x[maxq[max_head]]
            lower[centre] = x[minq[min_head]]


@numba.njit(cache=True)
def lb_kim_squared(q: np.ndarray, c: np.ndarray, start: int, mean: float, inv_std: float,
                   limit: float) -> float:
    """LB_KimFL of the UCR suite: first and last one to three points of ``q`` and the candidate.

    The candidate is ``(c[start:start + len(q)] - mean) * inv_std``. Stops adding
    terms once the bound exceeds ``limit``. For queries shorter than 6 points the
    front and back cells could coincide, so only the two corner cells count.
    """
    m = q.shape[0]
    x0 = (c[start] - mean) * inv_std
    y0 = (c[start + m - 1] - mean) * inv_std
    d = x0 - q[0]
    lb = d * d
    if m == 1:
        return lb
    d = y0 - q[m - 1]
    lb += d * d
    if lb > limit or m < 6:
        return lb
    x1 = (c[start + 1] - mean) * inv_std
    lb += min((x1 - q[0]) ** 2, (x0 - q[1]) ** 2, (x1 - q[1]) ** 2)
    if lb > limit:
        return lb
    y1 = (c[start + m - 2] - mean) * inv_std
    lb += min((y1 - q[m - 1]) ** 2, (y0 - q[m - 2]) ** 2, (y1 - q[m - 2]) ** 2)
    if lb > limit:
        return lb
    x2 = (c[start + 2] - mean) * inv_std
    lb += min((x0 - q[2]) ** 2, (x1 - q[2]) ** 2, (x2 - q[2]) ** 2,
              (x2 - q[1]) ** 2, (x2 - q[0]) ** 2)
    if lb > limit:
        return lb
    y2 = (c[start + m - 3] - mean) * inv_std
    lb += min((y0 - q[m - 3]) ** 2, (y1 - q[m - 3]) ** 2, (y2 - q[m - 3]) ** 2,
              (y2 - q[m - 2]) ** 2, (y2 - q[m - 1]) ** 2)
    return lb


@numba.njit(cache=True)
def lb_keogh_squared(order: np.ndarray, values: np.ndarray, start: int, mean: float,
                     inv_std: float, upper: np.ndarray, lower: np.ndarray,
                     contrib: np.ndarray, limit: float) -> float:
    """LB_Keogh of the normalised ``values[start:]`` against an envelope, in ``order``.

    ``contrib[k]`` receives the term of position ``k`` (zero for positions not
    reached before the bound exceeded ``limit``, so the caller must not use
    ``contrib`` then).
    """
    lb = 0.0
    for r in range(order.shape[0]):
        k = order[r]
        x = (values[start + k] - mean) * inv_std
        if x > upper[k]:
            d = (x - upper[k]) ** 2
        elif x < lower[k]:
            d = (x - lower[k]) ** 2
        else:
            d = 0.0
        contrib[k] = d
        lb += d
        if lb > limit:
            break
    return lb


@numba.njit(cache=True)
def slide_window(ring: np.ndarray, width: int, t: int, x: float, moments: np.ndarray,
                 at: int) -> int:
    """Store sample number ``t`` in ``ring[t % width]``; return that slot.

    ``moments[at:at + 3]`` = [shift, sum, sum of squares] of ``sample - shift``
    over the last ``width`` samples. Summing around a shift near the mean keeps
    the variance exact for signals far from zero (no cancellation of two large
    sums); the shift is moved to the window's mean, and the sums recomputed from
    ``ring``, every ``width`` samples, so round-off cannot accumulate either.
    """
    slot = t % width
    old = ring[slot]
    ring[slot] = x
    if t == 0:
        moments[at] = x
    if t < width:
        d = x - moments[at]
        moments[at + 1] += d
        moments[at + 2] += d * d
    elif slot == 0:
        shift = 0.0
        for k in range(width):
            shift += ring[k]
        shift /= width
        total = 0.0
        squares = 0.0
        for k in range(width):
            d = ring[k] - shift
            total += d
            squares += d * d
        moments[at] = shift
        moments[at + 1] = total
        moments[at + 2] = squares
    else:
        d_new = x - moments[at]
        d_old = old - moments[at]
        moments[at + 1] += d_new - d_old
        moments[at + 2] += d_new * d_new - d_old * d_old
    return slot


@numba.njit(cache=True)
def window_mean_inverse_std(moments: np.ndarray, at: int, n: int) -> tuple[float, float]:
    """Mean and 1 / std of the ``n`` samples summarised by :func:`slide_window`'s ``moments``."""
    centred = moments[at + 1] / n
    second = moments[at + 2] / n
    return moments[at] + centred, inverse_std(second - centred * centred, 1e-12 * second)


@numba.njit(cache=True)
def search_samples(samples: np.ndarray, buf: np.ndarray, sums: np.ndarray, counters: np.ndarray,
                   query: np.ndarray, order: np.ndarray, q_upper: np.ndarray,
                   q_lower: np.ndarray, radius: int, normalize: bool, cand: np.ndarray,
                   c_upper: np.ndarray, c_lower: np.ndarray, contrib: np.ndarray,
                   contrib2: np.ndarray, cb: np.ndarray, stats: np.ndarray) -> int:
    """Feed ``samples`` to a best-match search (UCR suite); return how many improved the best.

    State owned by the caller: ``buf`` (2m, every sample written twice so the
    last ``m`` are contiguous), ``sums`` = [the window's moments as kept by
    :func:`slide_window`, best squared distance], ``counters`` = [samples seen,
    end index of the best match].
    ``stats`` counts candidates pruned by [LB_Kim, LB_Keogh EQ, LB_Keogh EC]
    and fully computed DTWs.
    """
    m = query.shape[0]
    improved = 0
    for x in samples:
        t = counters[0]
        counters[0] = t + 1
        slot = slide_window(buf, m, t, x, sums, 0)
        buf[slot + m] = x
        if t + 1 < m:
            continue
        start = (t + 1) % m
        if normalize:
            mean, inv_std = window_mean_inverse_std(sums, 0, m)
        else:
            mean = 0.0
            inv_std = 1.0
        bsf = sums[3]
        if lb_kim_squared(query, buf, start, mean, inv_std, bsf) >= bsf:
            stats[0] += 1
            continue
        lb_eq = lb_keogh_squared(order, buf, start, mean, inv_std, q_upper, q_lower,
                                 contrib, bsf)
        if lb_eq >= bsf:
            stats[1] += 1
            continue
        for k in range(m):
            cand[k] = (buf[start + k] - mean) * inv_std
        envelope(cand, radius, c_upper, c_lower)
        lb_ec = lb_keogh_squared(order, query, 0, 0.0, 1.0, c_upper, c_lower, contrib2, bsf)
        if lb_ec >= bsf:
            stats[2] += 1
            continue
        # Cumulative bound from whichever LB_Keogh is tighter (both are complete here).
        tail = contrib if lb_eq > lb_ec else contrib2
        acc = 0.0
        for k in range(m - 1, -1, -1):
            acc += tail[k]
            cb[k] = acc
        stats[3] += 1
        d = dtw_squared_abandoning(query, cand, radius, radius, bsf, cb)
        if d < bsf:
            sums[3] = d
            counters[1] = t
            improved += 1
    return improved


@numba.njit(cache=True)
def star_column(x: np.ndarray, row: int, t: int, query: np.ndarray, d: np.ndarray,
                s: np.ndarray, d_new: np.ndarray, s_new: np.ndarray, radius: int) -> None:
    """Column ``t`` of SPRING's star-padded matrix into ``d_new``/``s_new``, from ``d``/``s``.

    The stream sample is ``x[row]`` (``x`` and ``query`` are ``n x d``).
    ``d[i]`` is the smallest accumulated squared cost of aligning the first ``i``
    query samples with a stretch of the stream ending at the previous sample,
    and ``s[i]`` where that stretch starts. Row 0 is free, so a stretch may start
    at any sample. Ties go to the predecessors in the paper's order: (t, i-1),
    (t-1, i-1), (t-1, i). With ``radius >= 0`` a predecessor is only extended
    when the new cell stays within ``radius`` of the diagonal of its own start.
    """
    d_new[0] = 0.0
    s_new[0] = t
    for i in range(1, query.shape[0] + 1):
        best = INF
        start = t
        if d_new[i - 1] < best and (radius < 0 or abs(t - s_new[i - 1] - (i - 1)) <= radius):
            best = d_new[i - 1]
            start = s_new[i - 1]
        if d[i - 1] < best and (radius < 0 or abs(t - s[i - 1] - (i - 1)) <= radius):
            best = d[i - 1]
            start = s[i - 1]
        if d[i] < best and (radius < 0 or abs(t - s[i] - (i - 1)) <= radius):
            best = d[i]
            start = s[i]
        d_new[i] = squared_distance(query, i - 1, x, row) + best
        s_new[i] = start


@numba.njit(cache=True)
def spring_samples(samples: np.ndarray, query: np.ndarray, d: np.ndarray, s: np.ndarray,
                   d_new: np.ndarray, s_new: np.ndarray, state: np.ndarray,
                   counters: np.ndarray, epsilon_sq: float, radius: int, znorm: bool,
                   ring: np.ndarray, normed: np.ndarray, out: np.ndarray) -> int:
    """Feed ``samples`` (``n x d``) to SPRING (Sakurai, Faloutsos, Yamamuro 2007).

    Returns the number of matches written. ``d``/``s`` hold the previous column
    of the star-padded time warping matrix (accumulated squared cost and start
    index), ``d_new``/``s_new`` are scratch. ``state`` = [best squared distance
    of the pending match, then for each dimension ``k`` the moments of
    ``ring[k]`` as kept by :func:`slide_window`, at ``1 + 3 k``]; ``counters`` =
    [samples seen, pending start, pending end]. Each confirmed match is written
    to a row of ``out`` as (start, end, squared distance).

    With ``radius >= 0`` a cell ``(t, i)`` may only extend a path that started at
    ``s`` when ``|t - s - i| <= radius`` (a Sakoe–Chiba band relative to each
    path's own start). With ``znorm`` each dimension of each sample is
    z-normalised by the mean and standard deviation of its last ``ring.shape[1]``
    values, kept in ``ring`` (``d x w``); ``normed`` (``1 x d``) is scratch.
    """
    m = query.shape[0]
    dims = samples.shape[1]
    w = ring.shape[1]
    written = 0
    for row in range(samples.shape[0]):
        t = counters[0]
        counters[0] = t + 1
        if znorm:
            for k in range(dims):
                raw = samples[row, k]
                slide_window(ring[k], w, t, raw, state, 1 + 3 * k)
                mean, inv_std = window_mean_inverse_std(state, 1 + 3 * k, min(t + 1, w))
                normed[0, k] = (raw - mean) * inv_std
            star_column(normed, 0, t, query, d, s, d_new, s_new, radius)
        else:
            star_column(samples, row, t, query, d, s, d_new, s_new, radius)
        dmin = state[0]
        if dmin <= epsilon_sq:
            te = counters[2]
            confirmed = True
            for i in range(1, m + 1):
                if d_new[i] < dmin and s_new[i] <= te:
                    confirmed = False
                    break
            if confirmed:
                out[written, 0] = counters[1]
                out[written, 1] = te
                out[written, 2] = dmin
                written += 1
                state[0] = INF
                for i in range(1, m + 1):
                    if s_new[i] <= te:
                        d_new[i] = INF
        if d_new[m] <= epsilon_sq and d_new[m] < state[0]:
            state[0] = d_new[m]
            counters[1] = s_new[m]
            counters[2] = t
        for i in range(m + 1):
            d[i] = d_new[i]
            s[i] = s_new[i]
    return written


@numba.njit(cache=True)
def best_subsequence_squared(x: np.ndarray, query: np.ndarray, result: np.ndarray) -> None:
    """Best subsequence DTW of ``query`` anywhere in ``x`` (both ``n x d``).

    ``result`` = [start, end, squared distance].
    """
    m = query.shape[0]
    d = np.full(m + 1, INF)
    s = np.zeros(m + 1, dtype=np.int64)
    d_new = np.empty(m + 1)
    s_new = np.empty(m + 1, dtype=np.int64)
    best_start = -1
    best_end = -1
    best_value = INF
    for t in range(x.shape[0]):
        star_column(x, t, t, query, d, s, d_new, s_new, -1)
        if d_new[m] < best_value:
            best_start = int(s_new[m])
            best_end = t
            best_value = float(d_new[m])
        for i in range(m + 1):
            d[i] = d_new[i]
            s[i] = s_new[i]
    result[0] = best_start
    result[1] = best_end
    result[2] = best_value
