r"""The per-stream hook interface: transcription, detection and other analyses of raw media.

A hook sees what the feature extractors do not: the decoded audio samples and
sampled video frames of one stream. It answers with :class:`Label`\ s (a
transcript, a detected tone, a detected object), which the connector sends
into the same record stream as ``kind="label"`` records, and which the media
flow turns into insights (``detector="hook"``, ``kind=<hook name>/<label>``).

A hook is any object with a ``name`` and one or both of these methods:

* ``on_audio(pts, samples, sample_rate) -> Iterable[Label]``: every decoded
  audio frame, as mono float32 in [-1, 1]; ``pts`` is the media time of its
  first sample.
* ``on_frame(pts, luma, frame) -> Iterable[Label]``: one video frame every
  ``frame_interval`` seconds of media time; ``luma`` is the frame's Y plane
  (a uint8 view, row padding removed) and ``frame`` the decoded ``av.VideoFrame``
  for hooks that need colour (``frame.to_ndarray(format="rgb24")``).

Hooks run on the connector's decode thread, so they must return quickly. A
slow model (a speech recogniser) keeps its own worker and returns finished
results on a later call, as :class:`midstream.connectors.media.whisper.WhisperTranscriber`
does. A hook that raises is reported as a ``hook_error`` label and keeps
being called: one bad frame must not end a stream's analysis.

Shipped hooks: :class:`midstream.connectors.media.dtmf_hook.DtmfTranscriber` (touch-tone
digits to text), :class:`midstream.connectors.media.motion_hook.MovingObjectDetector`
(moving objects by frame differencing) and, behind the ``transcribe`` extra,
:class:`midstream.connectors.media.whisper.WhisperTranscriber` (faster-whisper, given a
local model directory).

Examples
--------
>>> class LoudnessHook:
...     name = "loud"
...     def on_audio(self, pts, samples, sample_rate):
...         if abs(samples).max() > 0.5:
...             yield Label("loud", pts=pts, score=float(abs(samples).max()))
>>> import numpy as np
>>> list(LoudnessHook().on_audio(1.0, np.full(960, 0.75, np.float32), 48000))
[Label(label='loud', pts=1.0, text=None, score=0.75, meta=None)]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class Label(NamedTuple):
    """One finding of a hook: a label, the media time it refers to, and details."""

    label: str
    pts: float | None = None
    text: str | None = None
    score: float | None = None
    meta: dict[str, Any] | None = None


@runtime_checkable
class AudioHook(Protocol):
    """A hook fed every decoded audio frame of its stream."""

    name: str

    def on_audio(self, pts: float, samples: np.ndarray, sample_rate: int) -> Iterable[Label]:
        """Look at mono float32 samples starting at media time ``pts``."""
        ...


@runtime_checkable
class VideoHook(Protocol):
    """A hook fed one video frame every ``frame_interval`` seconds of media time."""

    name: str
    frame_interval: float

    def on_frame(self, pts: float, luma: np.ndarray, frame: Any) -> Iterable[Label]:
        """Look at one frame (``luma``: its uint8 Y plane; ``frame``: the ``av.VideoFrame``)."""
        ...
