r"""Turning decoded PyAV frames into feature records at the edge, so frames never enter the flow.

One :class:`FeatureTap` serves one stream. The WebRTC, RTMP and HLS connectors
hand it every decoded frame; it measures the frame with the pure extractors of
:mod:`midstream.operators.audio_features` and :mod:`midstream.operators.video_features`, keeps the
frame's media timestamp, feeds the stream's hooks (:mod:`midstream.connectors.media.hooks`)
and calls ``emit`` with compact :class:`~midstream.core.media_events.MediaRecord`\ s:
one per video frame, one per 20 ms of audio, one per hook label, one per
change of connection state.

Examples
--------
>>> import av, numpy as np
>>> from fractions import Fraction
>>> records = []
>>> tap = FeatureTap("cam-1", "file", records.append, clock=lambda: 100.0)
>>> frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 200, np.uint8), format="rgb24")
>>> frame = frame.reformat(format="yuv420p")
>>> frame.pts, frame.time_base = 0, Fraction(1, 25)
>>> tap.video(frame)
>>> r = records[-1]
>>> r.kind, r.width, r.height, round(r.luma), r.black, r.pts  # grey 200 is Y 188 (16-235)
('video', 320, 240, 188, False, 0.0)
>>> sound = av.AudioFrame.from_ndarray(np.zeros((1, 1920), np.int16), format="s16", layout="stereo")
>>> sound.sample_rate, sound.pts, sound.time_base = 48000, 0, Fraction(1, 48000)
>>> tap.audio(sound)
>>> [(r.kind, r.rms_dbfs, r.voice, r.pts) for r in records[1:]]
[('audio', -120.0, False, 0.0)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import av
import numpy as np

from midstream.connectors.media.hooks import AudioHook, Label, VideoHook
from midstream.core.media_events import MediaRecord
from midstream.operators.audio_features import AudioFeatureExtractor
from midstream.operators.video_features import FrameTiming, VideoFeatureExtractor

log = logging.getLogger(__name__)

Emit = Callable[[MediaRecord], None]

# Formats whose first plane is the luma plane (8 bits per sample).
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                         "nv12", "nv21", "gray", "yuv410p", "yuv411p", "yuv440p"})


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """Return the frame's Y plane as a uint8 (height, width) view, row padding removed.

    Formats without an 8-bit Y plane first (RGB, 10-bit YUV) are converted to gray.

    Examples
    --------
    >>> import av, numpy as np
    >>> f = av.VideoFrame.from_ndarray(np.zeros((30, 50, 3), np.uint8), format="rgb24")
    >>> luma_plane(f.reformat(format="yuv420p")).shape
    (30, 50)
    """
    if frame.format.name not in _LUMA_FIRST:
        frame = frame.reformat(format="gray")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width]


# Sample formats: (NumPy type, scale to [-1, 1], offset of unsigned formats).
_SAMPLE_TYPES: dict[str, tuple[type[np.generic], float, float]] = {
    "u8": (np.uint8, 1 / 128, 128.0), "s16": (np.int16, 1 / 32768, 0.0),
    "s32": (np.int32, 1 / 2147483648, 0.0), "flt": (np.float32, 1.0, 0.0),
    "dbl": (np.float64, 1.0, 0.0),
}


def mono_samples(frame: av.AudioFrame) -> np.ndarray:
    """Return the frame's audio as mono float32 in [-1, 1], whatever its sample format and layout.

    Packed formats (aiortc's interleaved s16 stereo, shape ``(1, 1920)``) are
    de-interleaved; planar ones (AAC's ``fltp``) are averaged over channels. The
    samples are read straight from the frame's planes (no intermediate copy).

    Examples
    --------
    >>> import av, numpy as np
    >>> packed = np.array([[16384, -16384, 8192, 8192]], np.int16)  # L R L R
    >>> f = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
    >>> mono_samples(f).tolist()
    [0.0, 0.25]
    """
    name = frame.format.name
    planar = name.endswith("p")
    dtype, scale, offset = _SAMPLE_TYPES[name[:-1] if planar else name]
    channels = frame.layout.nb_channels
    count = frame.samples
    planes = frame.planes
    if planar:
        data = np.stack([np.frombuffer(memoryview(plane), dtype, count) for plane in
                         planes[:channels]]) if channels > 1 else \
            np.frombuffer(memoryview(planes[0]), dtype, count)
        mono = data.mean(axis=0) if channels > 1 else data
    else:
        data = np.frombuffer(memoryview(planes[0]), dtype, count * channels)
        mono = data.reshape(count, channels).mean(axis=1) if channels > 1 else data
    if offset:
        mono = mono - offset
    out = mono.astype(np.float32)
    if scale != 1.0:
        out *= scale
    return out


class FeatureTap:
    """Measures one stream's decoded frames and emits feature records.

    Parameters
    ----------
    stream_id
        The stream's id (the Kafka key of its records).
    source
        Where the stream comes from: ``"webrtc"``, ``"rtmp"``, ``"hls"``, ``"file"``.
    emit
        Called with each record, on the caller's thread.
    hooks
        Per-stream hooks (:mod:`midstream.connectors.media.hooks`).
    clock
        Wall clock for the records' ``ts``.
    """

    def __init__(self, stream_id: str, source: str, emit: Emit, *,
                 hooks: Sequence[object] = (), clock: Callable[[], float] = time.time) -> None:
        self.stream_id = stream_id
        self.source = source
        self.emit = emit
        self.clock = clock
        self.audio_hooks = [h for h in hooks if isinstance(h, AudioHook)]
        self.video_hooks = [h for h in hooks if isinstance(h, VideoHook)]
        self._next_hook_pts: dict[int, float] = {}
        self.seq = 0
        self.video_features = VideoFeatureExtractor()
        self.frame_timing = FrameTiming()
        self.audio_features: AudioFeatureExtractor | None = None
        self._audio_samples_seen = 0
        self.untimed_frames = 0

    def _record(self, kind: str, **fields: Any) -> None:
        record = MediaRecord(v=1, stream_id=self.stream_id, seq=self.seq, ts=self.clock(),
                             kind=kind, source=self.source, **fields)  # type: ignore[arg-type]
        self.seq += 1
        self.emit(record)

    def _pts(self, frame: av.VideoFrame | av.AudioFrame) -> float:
        """Return the frame's media time in seconds; wall-clock time when the source gave none."""
        pts = frame.time
        if pts is None:
            self.untimed_frames += 1
            return self.clock()
        return float(pts)

    def video(self, frame: av.VideoFrame) -> None:
        """Measure one decoded video frame and emit its record."""
        pts = self._pts(frame)
        luma = luma_plane(frame)
        sample = self.video_features.update(luma)
        timing = self.frame_timing.update(pts)
        self._record("video", pts=pts, width=sample.width, height=sample.height,
                     luma=round(sample.luma, 3), motion=round(sample.motion, 3),
                     black=sample.black, fps=_rounded(timing.fps),
                     jitter=_rounded(timing.jitter, 6),
                     resolution_changed=sample.resolution_changed or None)
        for hook in self.video_hooks:
            interval = hook.frame_interval
            due = self._next_hook_pts.get(id(hook))
            if due is None or pts < due - 10 * interval:  # first frame, or pts went back
                due = pts
            if pts >= due - 1e-6:  # the schedule keeps its step; frames jitter around it
                self._next_hook_pts[id(hook)] = due + interval if pts - due < interval \
                    else pts + interval
                self._run_hook(hook.name, hook.on_frame, (pts, luma, frame), pts)
            else:
                self._next_hook_pts[id(hook)] = due

    def audio(self, frame: av.AudioFrame) -> None:
        """Measure one decoded audio frame: one record per complete 20 ms window."""
        pts = self._pts(frame)
        rate = int(frame.sample_rate)
        if self.audio_features is None or self.audio_features.sample_rate != rate:
            self.audio_features = AudioFeatureExtractor(rate)
            self._audio_samples_seen = 0
        samples = mono_samples(frame)
        # Window starts are counted from the first sample ever; this frame's first sample
        # is number `seen`, so a window starting at `start` seconds lies at pts + start - seen/rate.
        frame_origin = pts - self._audio_samples_seen / rate
        self._audio_samples_seen += samples.shape[0]
        extractor = self.audio_features
        duration = extractor.window_seconds
        windows = extractor.update(samples)
        if windows:
            # Built inline, not through _record: 50 records a second per stream.
            now, emit, seq = self.clock(), self.emit, self.seq
            for window in windows:
                emit(MediaRecord(
                    v=1, stream_id=self.stream_id, seq=seq, ts=now, kind="audio",
                    source=self.source, pts=round(frame_origin + window.start, 6),
                    duration=duration, sample_rate=rate, rms_dbfs=round(window.rms_dbfs, 2),
                    voice=window.voice, clipped=window.clipped,
                    noise_floor_dbfs=round(window.noise_floor_dbfs, 2)))
                seq += 1
            self.seq = seq
        for hook in self.audio_hooks:
            self._run_hook(hook.name, hook.on_audio, (pts, samples, rate), pts)

    def status(self, status: str, *, error: str | None = None,
               meta: dict[str, Any] | None = None) -> None:
        """Emit a connection-state record (``connected``, ``dropped``, ``reconnecting``, ...)."""
        self._record("status", status=status, error=error, meta=meta)

    def _run_hook(self, name: str, call: Callable[..., Iterable[Label]], args: tuple[Any, ...],
                  pts: float) -> None:
        try:
            labels = list(call(*args))
        except Exception as exc:  # a hook's failure must not end the stream's analysis
            log.warning("hook %s failed on stream %s: %s", name, self.stream_id, exc)
            labels = [Label("hook_error", pts=pts, text=f"{type(exc).__name__}: {exc}")]
        for found in labels:
            self._record("label", pts=found.pts if found.pts is not None else pts, hook=name,
                         label=found.label, text=found.text, score=found.score, meta=found.meta)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


__all__ = ["Emit", "FeatureTap", "luma_plane", "mono_samples"]
