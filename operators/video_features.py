"""Per-frame video features from the luma plane (brightness, motion, black frames) and frame timing.

:class:`VideoFeatureExtractor` reads the Y plane through a strided view, every
``stride``-th pixel of every ``stride``-th row, with the smallest odd stride
that leaves at most ``max_samples`` pixels (320x240 -> stride 5, a 64x48 grid;
640x480 -> 9, 72x54; 1280x720 -> 15, 86x48). The stride is odd so that the
grid is not aligned with the power-of-two structure of coded video (8x8 and
16x16 blocks, 4:2:0 chroma, user interfaces drawn on even pixel grids): an even
stride samples the same few phases of every 16-pixel block, which biased the
motion of block-structured content by 15 % in our tests; an odd one visits
every phase. The grid is a systematic sample of the plane, so:

- the grid's mean luma is an unbiased estimate of the plane's (for content not
  periodic with the stride); on FFmpeg's test sources it is within 0.1–2 grey
  levels of the full-resolution mean (``python -m bench.media_features``);
- motion is the mean absolute difference of the two frames sampled on the same
  grid: the grid samples the full-resolution difference image, so its mean
  estimates the full-resolution mean absolute difference without bias (within
  a few percent at the median on panned dead-leaves scenes, about 25 % at worst; see
  ``tests/operators/test_video_features.py``). Anything that changes an area
  wider than ``stride`` pixels both ways covers grid points and is seen,
  whatever the size of its displacement; what the grid can miss is a change
  confined to fewer than ``stride`` rows or columns;
- a frame is black, as in ffmpeg's ``blackdetect`` (``pix_th``/``pic_th``), when
  at least ``black_fraction`` of its pixels are darker than ``black_luma``
  (defaults 20, just above limited-range black at 16, and 0.98: a black frame
  with a logo or a small caption still counts as black).

The previous frame's grid is kept as a small contiguous copy, so the caller may
reuse or free the plane (a decoder's buffer) after :meth:`VideoFeatureExtractor.update`.

:class:`FrameTiming` turns frame timestamps into the actual frame rate and the
jitter of frame intervals.

Examples
--------
>>> import numpy as np
>>> video = VideoFeatureExtractor()
>>> plane = np.full((240, 320), 16, dtype=np.uint8)
>>> video.update(plane)
VideoSample(width=320, height=240, luma=16.0, motion=0.0, black=True, resolution_changed=False)
>>> plane[:120] = 200                                      # the top half lights up
>>> video.update(plane)
VideoSample(width=320, height=240, luma=108.0, motion=92.0, black=False, resolution_changed=False)
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np


class VideoSample(NamedTuple):
    """The features of one video frame."""

    width: int
    """Width of the full-resolution plane given."""
    height: int
    """Height of the full-resolution plane given."""
    luma: float
    """Mean luma (0..255) on the sampling grid."""
    motion: float
    """Mean absolute luma difference (0..255) from the previous frame on the same grid;
    0.0 for the first frame and after a resolution change."""
    black: bool
    """At least ``black_fraction`` of the grid's pixels are darker than ``black_luma``."""
    resolution_changed: bool
    """The size differs from the previous frame's (False on the first frame)."""


class FrameTimingSample(NamedTuple):
    """Frame rate and interval jitter after one frame."""

    interval: float | None
    """Seconds since the previous frame; None for the first."""
    fps: float | None
    """1 / the mean of the last ``window`` intervals; None for the first frame."""
    jitter: float | None
    """Standard deviation (population, ddof=0) of the last ``window`` intervals, in
    seconds; None until there are two intervals."""


def sampling_stride(height: int, width: int, max_samples: int) -> int:
    """Return the smallest odd stride whose grid on a ``height x width`` plane has ``<= max_samples`` pixels.

    Examples
    --------
    >>> [sampling_stride(h, w, 4800) for h, w in [(240, 320), (480, 640), (720, 1280)]]
    [5, 9, 15]
    >>> sampling_stride(48, 64, 4800)             # small enough to read whole
    1
    """
    stride = max(1, math.isqrt(max(0, height * width - 1) // max_samples)) | 1
    while -(-height // stride) * -(-width // stride) > max_samples:
        stride += 2
    return stride


class VideoFeatureExtractor:
    """Mean luma, motion and black-frame detection of a video stream, one frame at a time.

    Parameters
    ----------
    max_samples
        At most this many pixels of each frame are read (see the module notes).
    black_luma
        Pixels darker than this (0..255) are black.
    black_fraction
        A frame is black when at least this fraction of its pixels are.

    Examples
    --------
    >>> import numpy as np
    >>> video = VideoFeatureExtractor()
    >>> padded = np.zeros((720, 1344), dtype=np.uint8)    # a decoder's plane, rows padded
    >>> video.update(padded[:, :1280]).black
    True
    >>> video.update(np.full((360, 640), 128, np.uint8))
    VideoSample(width=640, height=360, luma=128.0, motion=0.0, black=False, resolution_changed=True)
    """

    def __init__(self, *, max_samples: int = 4800, black_luma: float = 20.0,
                 black_fraction: float = 0.98) -> None:
        if not (isinstance(max_samples, int | np.integer) and max_samples >= 1):
            raise ValueError(f"max_samples must be an int >= 1, got {max_samples!r}")
        if not 0 <= black_luma <= 256:
            raise ValueError(f"black_luma must be in [0, 256], got {black_luma!r}")
        if not 0 < black_fraction <= 1:
            raise ValueError(f"black_fraction must be in (0, 1], got {black_fraction!r}")
        self.max_samples = int(max_samples)
        self.black_luma = black_luma
        self.black_fraction = black_fraction
        # Pixels < black_luma are exactly the uint8 values < ceil(black_luma).
        self._black_below = math.ceil(black_luma)
        self._shape: tuple[int, int] | None = None
        self._stride = 1
        self._previous: np.ndarray | None = None
        self.frames = 0

    def update(self, luma: np.ndarray) -> VideoSample:
        """Add one frame's luma plane: a 2-d uint8 array ``(height, width)``, any strides."""
        if not (isinstance(luma, np.ndarray) and luma.dtype == np.uint8 and luma.ndim == 2):
            raise ValueError("luma must be a 2-d uint8 array (height, width), got "
                             f"{getattr(luma, 'dtype', type(luma).__name__)} "
                             f"of shape {np.shape(luma)}")
        height, width = luma.shape
        if height == 0 or width == 0:
            raise ValueError(f"luma must not be empty, got shape {luma.shape}")
        changed = self._shape is not None and self._shape != (height, width)
        if self._shape != (height, width):
            self._shape = (height, width)
            self._stride = sampling_stride(height, width, self.max_samples)
            self._previous = None
        s = self._stride
        grid = luma[::s, ::s].astype(np.int16)
        count = grid.size
        mean = float(grid.sum()) / count
        motion = 0.0 if self._previous is None else float(np.abs(grid - self._previous).sum()) / count
        dark = int(np.count_nonzero(grid < self._black_below))
        self._previous = grid
        self.frames += 1
        return VideoSample(width, height, mean, motion, dark >= self.black_fraction * count,
                           changed)

    @property
    def stride(self) -> int:
        """The sampling stride for the current resolution (1 before the first frame)."""
        return self._stride


class FrameTiming:
    """Actual fps and frame-interval jitter from frame timestamps (media time, seconds).

    The fps is 1 / the mean of the last ``window`` intervals, and the jitter is
    the plain standard deviation (ddof=0) of those intervals, not RFC 3550's
    smoothed interarrival jitter: a window's figures are those of its frames,
    and a steady stream at any rate has a jitter of 0. Timestamps that do not
    increase (a repeated or reordered frame) are ignored: the previous sample is
    returned again and :attr:`out_of_order` counts them.

    Parameters
    ----------
    window
        How many of the latest intervals the figures cover.

    Examples
    --------
    >>> timing = FrameTiming(window=30)
    >>> timing.update(10.0)
    FrameTimingSample(interval=None, fps=None, jitter=None)
    >>> for pts in (10.04, 10.08, 10.12, 10.10, 10.16):   # 10.10 is out of order
    ...     sample = timing.update(pts)
    >>> round(sample.fps, 6), round(sample.jitter, 6), timing.out_of_order
    (25.0, 0.0, 1)
    """

    def __init__(self, *, window: int = 30) -> None:
        if not (isinstance(window, int | np.integer) and window >= 1):
            raise ValueError(f"window must be an int >= 1, got {window!r}")
        self.window = int(window)
        self._intervals: deque[float] = deque(maxlen=self.window)
        self._last_pts: float | None = None
        self._last = FrameTimingSample(None, None, None)
        self.out_of_order = 0

    def update(self, pts: float) -> FrameTimingSample:
        """Add one frame's presentation time, in seconds."""
        if not math.isfinite(pts):
            raise ValueError(f"pts must be a finite number of seconds, got {pts!r}")
        if self._last_pts is not None and pts <= self._last_pts:
            self.out_of_order += 1
            return self._last
        if self._last_pts is None:
            self._last_pts = pts
            return self._last
        interval = pts - self._last_pts
        self._last_pts = pts
        intervals = self._intervals
        intervals.append(interval)
        n = len(intervals)
        mean = math.fsum(intervals) / n
        jitter = (math.sqrt(math.fsum((d - mean) ** 2 for d in intervals) / n)
                  if n >= 2 else None)
        self._last = FrameTimingSample(interval, 1.0 / mean, jitter)
        return self._last
