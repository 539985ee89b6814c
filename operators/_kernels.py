"""Numba kernels behind the operator classes: module-level, so the classes stay picklable."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def repetition_step(ring: np.ndarray, runs: np.ndarray, needed: np.ndarray, i: int,
                    token: int) -> int:
    """Add token number ``i`` to the ring and update every period's run; return a loop period.

    ``runs[p]`` is the length of the current run of positions ``k`` with
    ``tok[k] == tok[k - p]`` ending at ``i``. The smallest ``p`` whose run
    covers ``needed[p]`` tokens (``runs[p] + p >= needed[p]``) is returned, or 0.
    """
    size = ring.shape[0]
    ring[i % size] = token
    found = 0
    for p in range(1, runs.shape[0]):
        if i - p < 0:
            break
        if ring[(i - p) % size] == token:
            runs[p] += 1
            if found == 0 and runs[p] + p >= needed[p]:
                found = p
        else:
            runs[p] = 0
    return found
