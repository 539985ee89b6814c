"""FeatureTap and its frame conversions, on real PyAV frames of every common format."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from midstream.connectors.media.features import FeatureTap, luma_plane, mono_samples
from midstream.core.media_events import MediaRecord

TONE = np.sin(np.arange(1024) / 10).astype(np.float32) * 0.5


@pytest.mark.parametrize("fmt", ["s16", "s16p", "flt", "fltp", "s32", "s32p", "dbl", "u8"])
@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_mono_samples_of_every_sample_format(fmt: str, layout: str) -> None:
    channels = 2 if layout == "stereo" else 1
    source = av.AudioFrame.from_ndarray(np.repeat(TONE, channels).reshape(1, -1),
                                        format="flt", layout=layout)
    source.sample_rate = 48000
    (frame,) = av.AudioResampler(format=fmt, layout=layout, rate=48000).resample(source)
    tolerance = {"u8": 1 / 64, "s16": 1e-4, "s16p": 1e-4}.get(fmt, 1e-6)
    np.testing.assert_allclose(mono_samples(frame), TONE, atol=tolerance)


def test_stereo_channels_are_averaged() -> None:
    left_right = np.stack([TONE, -TONE * 0.5]).T.reshape(1, -1)  # interleaved L R
    frame = av.AudioFrame.from_ndarray(left_right.astype(np.float32), format="flt",
                                       layout="stereo")
    np.testing.assert_allclose(mono_samples(frame), TONE * 0.25, atol=1e-7)


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "gray", "rgb24", "yuv444p"])
def test_luma_plane_of_common_pixel_formats(fmt: str) -> None:
    rgb = np.zeros((48, 66, 3), np.uint8)  # 66: rows get padded to the line size
    rgb[:, 33:] = 255
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    luma = luma_plane(frame)
    assert luma.shape == (48, 66)
    assert luma[:, :30].max() <= 20 and luma[:, 36:].min() >= 230


def frames(seconds: float, rate: int = 25, size: tuple[int, int] = (64, 48),
           start: int = 0) -> list[av.VideoFrame]:
    out = []
    for i in range(int(seconds * rate)):
        rgb = np.full((size[1], size[0], 3), (i * 7) % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = start + i, Fraction(1, rate)
        out.append(frame)
    return out


def test_video_records_keep_media_time_and_report_fps_and_resolution_changes() -> None:
    records: list[MediaRecord] = []
    tap = FeatureTap("cam", "rtmp", records.append, clock=lambda: 5.0)
    for frame in frames(1.0) + frames(0.2, size=(32, 24), start=25):
        tap.video(frame)
    assert [r.seq for r in records] == list(range(30))
    assert records[10].pts == pytest.approx(0.4) and records[-1].fps == pytest.approx(25.0)
    assert [r.resolution_changed for r in records].count(True) == 1
    assert records[25].width == 32 and records[25].resolution_changed
    assert all(r.ts == 5.0 and r.source == "rtmp" for r in records)


def test_audio_windows_are_20_ms_and_timed_across_frame_boundaries() -> None:
    records: list[MediaRecord] = []
    tap = FeatureTap("mic", "rtmp", records.append)
    for i in range(10):  # AAC-sized frames of 1024 samples: windows straddle frames
        frame = av.AudioFrame.from_ndarray((TONE * 32767).astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, 100_000 + i * 1024, \
            Fraction(1, 48000)
        tap.audio(frame)
    starts = np.array([r.pts for r in records], dtype=float)
    assert len(records) == 10 * 1024 // 960
    assert np.allclose(np.diff(starts), 0.02) and starts[0] == pytest.approx(100_000 / 48000)
    assert all(r.voice and r.duration == pytest.approx(0.02) for r in records)
    assert records[0].rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)


def test_video_hooks_see_one_frame_per_interval() -> None:
    seen: list[float] = []

    class Every:
        name = "every"
        frame_interval = 0.2

        def on_frame(self, pts: float, luma: np.ndarray, frame: object) -> list[object]:
            seen.append(pts)
            return []

    tap = FeatureTap("cam", "file", lambda r: None, hooks=[Every()])
    for frame in frames(1.0):
        tap.video(frame)
    assert seen == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
