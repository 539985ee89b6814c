"""Numba kernel behind operators.sequence_distance: Myers' bit-parallel edit-distance search."""

from __future__ import annotations

import numba
import numpy as np

HIGH_BIT = np.uint64(1) << np.uint64(63)
ONE = np.uint64(1)
ALL_ONES = ~np.uint64(0)


@numba.njit(cache=True)
def myers_search_step(peq: np.ndarray, symbol: int, pv: np.ndarray, mv: np.ndarray,
                      last_bit: int) -> int:
    """Advance the search by one text symbol; return the change (-1, 0, +1) of the score.

    Myers (1999), "A fast bit-vector algorithm for approximate string matching
    based on dynamic programming", in the block form of Hyyrö (2003) and edlib:
    ``pv``/``mv`` hold the positive/negative vertical deltas of the current
    column, one bit per pattern position, 64 per block. ``peq[symbol]`` has a 1
    at every position where the pattern holds ``symbol``. The top row is all
    zeros (a match may start anywhere), so the score is the smallest edit
    distance between the whole pattern and any text substring ending here.
    ``last_bit`` is the bit of the pattern's last position in the last block.
    """
    blocks = pv.shape[0]
    hin = 0
    delta = 0
    for b in range(blocks):
        p = pv[b]
        m = mv[b]
        eq = peq[symbol, b]
        xv = eq | m
        if hin < 0:
            eq |= ONE
        xh = (((eq & p) + p) ^ p) | eq
        ph = m | ~(xh | p)
        mh = p & xh
        if b == blocks - 1:
            bit = ONE << np.uint64(last_bit)
            if ph & bit:
                delta = 1
            elif mh & bit:
                delta = -1
        hout = 0
        if ph & HIGH_BIT:
            hout = 1
        elif mh & HIGH_BIT:
            hout = -1
        ph <<= ONE
        mh <<= ONE
        if hin < 0:
            mh |= ONE
        elif hin > 0:
            ph |= ONE
        pv[b] = mh | ~(xv | ph)
        mv[b] = ph & xv
        hin = hout
    return delta


@numba.njit(cache=True)
def myers_search_many(peq: np.ndarray, symbols: np.ndarray, pv: np.ndarray, mv: np.ndarray,
                      last_bit: int, score: int, scores: np.ndarray) -> int:
    """Run :func:`myers_search_step` over ``symbols``, writing each score; return the last."""
    for k in range(symbols.shape[0]):
        score += myers_search_step(peq, symbols[k], pv, mv, last_bit)
        scores[k] = score
    return score
