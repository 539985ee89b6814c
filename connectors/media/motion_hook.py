"""An object-detection hook: moving objects in sampled video frames, with their boxes.

Every ``frame_interval`` seconds of media time the hook compares the frame with
the previous sampled one (:class:`midstream.operators.moving_objects.MovingObjects`) and
labels each object that moved as ``moving_object``, with its bounding box in
``meta`` and its share of the picture as ``score``.

Examples
--------
>>> import numpy as np
>>> hook = MovingObjectDetector(frame_interval=0.5)
>>> still = np.zeros((240, 320), np.uint8)
>>> hook.on_frame(0.0, still, None)
[]
>>> moved = still.copy(); moved[20:60, 200:260] = 200
>>> [(l.label, l.meta) for l in hook.on_frame(0.5, moved, None)]
[('moving_object', {'x': 200, 'y': 20, 'width': 60, 'height': 40})]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from midstream.connectors.media.hooks import Label
from midstream.operators.moving_objects import MovingObjects


class MovingObjectDetector:
    """Per-stream moving-object detection (a video hook).

    Parameters
    ----------
    frame_interval
        Media seconds between the frames compared.
    threshold, min_area
        See :class:`midstream.operators.moving_objects.MovingObjects`.
    """

    name = "objects"

    def __init__(self, *, frame_interval: float = 0.5, threshold: int = 25,
                 min_area: float = 0.002) -> None:
        self.frame_interval = frame_interval
        self.detector = MovingObjects(threshold=threshold, min_area=min_area)

    def on_frame(self, pts: float, luma: np.ndarray, frame: Any) -> list[Label]:
        """Label the objects that moved since the previous sampled frame."""
        return [Label("moving_object", pts=pts, score=box.area,
                      meta={"x": box.x, "y": box.y, "width": box.width, "height": box.height})
                for box in self.detector.update(luma)]
