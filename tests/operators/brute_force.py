"""Textbook recurrences the DTW and SPRING tests compare the operators against."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def local_cost(x: Any, y: Any) -> float:
    """Squared difference of two numbers, or squared Euclidean distance of two equal-length rows."""
    if isinstance(x, int | float):
        return float((x - y) ** 2)
    return float(sum((u - v) ** 2 for u, v in zip(x, y, strict=True)))


def dtw_squared(a: Sequence[Any], b: Sequence[Any], radius: int | None = None,
                widen: bool = False) -> float:
    """Squared DTW over the whole matrix, cell by cell, optionally inside a Sakoe–Chiba band.

    The band is ``|i - j| <= radius``; with ``widen`` it is dtaidistance's band
    for unequal lengths, ``radius`` plus the length difference on the longer side.
    """
    n, m = len(a), len(b)
    below = above = radius
    if radius is not None and widen:
        below, above = radius + max(0, n - m), radius + max(0, m - n)
    cost = [[math.inf] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if below is None or above is None or -below <= j - i <= above:
                step = min(cost[i - 1][j - 1], cost[i - 1][j], cost[i][j - 1])
                cost[i][j] = local_cost(a[i - 1], b[j - 1]) + step
    return cost[n][m]
