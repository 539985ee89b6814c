"""Moving-object detection by frame differencing: where in the picture something moved.

The classic detector of fixed-camera video analytics (background subtraction
against the previous frame): pixels whose luma changed by more than
``threshold`` between two sampled frames are marked, the marks are grouped
into 8-connected components, and each component at least ``min_area`` of the
picture is an object, reported with its bounding box. It runs on a decimated
grid (one pixel in ``stride``² , about ``max_samples`` pixels in all), so a
sampled frame costs well under a millisecond; objects smaller than a few
strides are not seen.

A uniform object shows only where its edges moved (its unchanged inside is
not marked), so it may come out as two boxes, its leading and trailing edge.
It finds *that* and *where* something moves, not *what* it is: a class label
needs a trained model (see the README's hook section).

Examples
--------
>>> import numpy as np
>>> frame = np.zeros((240, 320), np.uint8)
>>> detector = MovingObjects()
>>> detector.update(frame)
[]
>>> frame[100:140, 60:100] = 255  # a 40x40 square appears
>>> [(b.x, b.y, b.width, b.height) for b in detector.update(frame)]
[(60, 100, 40, 40)]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from midstream.operators._moving_objects_kernels import component_boxes


class Box(NamedTuple):
    """A moving object's bounding box in full-resolution pixels, and its share of the picture."""

    x: int
    y: int
    width: int
    height: int
    area: float
    """Changed pixels of the object as a fraction of the picture."""


class MovingObjects:
    """Finds moving objects between consecutive frames given to :meth:`update`.

    Parameters
    ----------
    threshold
        Luma change (0-255) that marks a pixel as moved.
    min_area
        Smallest object, as a fraction of the picture.
    max_objects
        Most boxes returned per frame (the largest first).
    max_samples
        Pixels of the decimated grid the detector works on.
    """

    def __init__(self, *, threshold: int = 25, min_area: float = 0.002, max_objects: int = 8,
                 max_samples: int = 19200) -> None:
        if not 0 < threshold < 256:
            raise ValueError("threshold must be in 1..255")
        self.threshold = threshold
        self.min_area = min_area
        self.max_objects = max_objects
        self.max_samples = max_samples
        self._previous: np.ndarray | None = None
        self._shape: tuple[int, int] = (0, 0)

    def update(self, luma: np.ndarray) -> list[Box]:
        """Compare ``luma`` (uint8, height x width) with the previous frame; return the objects."""
        height, width = luma.shape
        stride = max(1, int(np.ceil(np.sqrt(height * width / self.max_samples))))
        grid = np.ascontiguousarray(luma[::stride, ::stride]).astype(np.int16)
        previous, shape = self._previous, self._shape
        self._previous, self._shape = grid, (height, width)
        if previous is None or shape != (height, width):
            return []
        mask = np.abs(grid - previous) > self.threshold
        if not mask.any():
            return []
        boxes = component_boxes(mask)
        cells = grid.size
        found = [
            Box(x=int(c0 * stride), y=int(r0 * stride),
                width=int(min(width, (c1 + 1) * stride) - c0 * stride),
                height=int(min(height, (r1 + 1) * stride) - r0 * stride),
                area=round(float(pixels) / cells, 6))
            for r0, c0, r1, c1, pixels in boxes
            if pixels / cells >= self.min_area
        ]
        found.sort(key=lambda b: -b.area)
        return found[: self.max_objects]
