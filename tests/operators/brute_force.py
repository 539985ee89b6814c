"""Textbook recurrences the DTW and SPRING tests compare the operators against."""

from __future__ import annotations

import math
from collections.abc import Sequence


def dtw_squared(a: Sequence[float], b: Sequence[float], radius: int | None = None) -> float:
    """Squared DTW over the whole matrix, cell by cell, optionally inside a Sakoe–Chiba band."""
    n, m = len(a), len(b)
    cost = [[math.inf] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if radius is None or abs(i - j) <= radius:
                step = min(cost[i - 1][j - 1], cost[i - 1][j], cost[i][j - 1])
                cost[i][j] = (a[i - 1] - b[j - 1]) ** 2 + step
    return cost[n][m]
