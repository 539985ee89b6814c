"""Numba kernel of :mod:`midstream.operators.moving_objects`: connected components of a boolean mask."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def component_boxes(mask: np.ndarray) -> np.ndarray:
    """Bounding boxes of the 8-connected components of ``mask``.

    Returns an (n, 5) int64 array of ``row0, col0, row1, col1, pixels`` (inclusive ends).
    """
    rows, cols = mask.shape
    seen = np.zeros((rows, cols), dtype=np.bool_)
    stack = np.empty((rows * cols, 2), dtype=np.int64)
    boxes = np.empty((rows * cols, 5), dtype=np.int64)
    count = 0
    for r in range(rows):
        for c in range(cols):
            if not mask[r, c] or seen[r, c]:
                continue
            seen[r, c] = True
            top = 0
            stack[0, 0] = r
            stack[0, 1] = c
            top = 1
            r0, c0, r1, c1, pixels = r, c, r, c, 0
            while top > 0:
                top -= 1
                y = stack[top, 0]
                x = stack[top, 1]
                pixels += 1
                r0 = min(r0, y)
                r1 = max(r1, y)
                c0 = min(c0, x)
                c1 = max(c1, x)
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny = y + dy
                        nx = x + dx
                        if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] \
                                and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack[top, 0] = ny
                            stack[top, 1] = nx
                            top += 1
            boxes[count, 0] = r0
            boxes[count, 1] = c0
            boxes[count, 2] = r1
            boxes[count, 3] = c1
            boxes[count, 4] = pixels
            count += 1
    return boxes[:count]
