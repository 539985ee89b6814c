"""Tests for operators/video_features.py: the strided estimates against full-resolution
brute force, black frames, resolution changes, decoder planes, and frame timing vs NumPy."""

from __future__ import annotations

import math
import pickle

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.video_features import (
    FrameTiming,
    FrameTimingSample,
    VideoFeatureExtractor,
    VideoSample,
    sampling_stride,
)


def full_resolution(previous: np.ndarray | None, plane: np.ndarray,
                    black_luma: float = 20.0) -> tuple[float, float, float]:
    """Brute force over every pixel: mean luma, mean |difference|, fraction of dark pixels."""
    y = plane.astype(np.float64)
    motion = 0.0 if previous is None else float(np.mean(np.abs(y - previous)))
    return float(y.mean()), motion, float(np.mean(y < black_luma))


def natural(height: int, width: int, seed: int) -> np.ndarray:
    """Natural-ish content wider than the frame: a dead-leaves scene (overlapping rectangles
    of power-law sizes, the classic model of natural image statistics: Lee, Mumford and
    Huang 2001), on a gradient, with grain; no lattice for a sampling grid to alias with."""
    rng = np.random.default_rng(seed)
    h, w = height + 64, width + 64
    scene = 128 + np.linspace(-30, 30, w)[None, :] + np.zeros((h, 1))
    for _ in range(400):
        size = 3 * (1 - rng.random(2)) ** -0.8            # Pareto: 3 px to the frame's size
        dh, dw = (min(int(size[0]), h), min(int(size[1] * 1.5), w))
        top, left = rng.integers(0, h - dh + 1), rng.integers(0, w - dw + 1)
        scene[top:top + dh, left:left + dw] = rng.uniform(0, 255)
    scene += rng.normal(0, 4, (h, w))
    return np.clip(scene, 0, 255).astype(np.uint8)


def view(scene: np.ndarray, dy: int, dx: int, height: int, width: int) -> np.ndarray:
    return scene[32 + dy:32 + dy + height, 32 + dx:32 + dx + width]


# --- luma, motion, black ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 16, 19, 20, 128, 255])
def test_constant_planes(value):
    video = VideoFeatureExtractor()
    for _ in range(2):
        sample = video.update(np.full((240, 320), value, dtype=np.uint8))
        assert sample == VideoSample(320, 240, float(value), 0.0, value < 20, False)


@pytest.mark.parametrize(("height", "width"), [(240, 320), (480, 640), (720, 1280), (97, 131)])
def test_strided_luma_and_motion_estimate_the_full_resolution_figures(height, width):
    # 12 scenes, each panned and cut: the grid's errors are small and centred on zero.
    luma_errors, motion_errors = [], []
    for seed in range(12):
        scene = natural(height, width, seed)
        video = VideoFeatureExtractor()
        previous = None
        for step, (dy, dx) in enumerate([(0, 0), (0, 3), (2, 7), (-5, -1), (9, 20), (9, 20)]):
            plane = view(scene, dy, dx, height, width)
            if step == 5:
                plane = plane.copy()
                plane[: height // 3] = 255 - plane[: height // 3]   # a cut: big change
            sample = video.update(plane)
            luma, motion, _ = full_resolution(previous, plane)
            luma_errors.append(sample.luma - luma)
            if step > 0:
                motion_errors.append(sample.motion / motion - 1)
            previous = plane.astype(np.float64)
    luma_err, motion_err = np.array(luma_errors), np.array(motion_errors)
    assert np.median(np.abs(luma_err)) < 2.0 and np.max(np.abs(luma_err)) < 6.5
    assert abs(np.mean(luma_err)) < 1.0
    assert np.median(np.abs(motion_err)) < 0.08 and np.max(np.abs(motion_err)) < 0.35
    assert abs(np.mean(motion_err)) < 0.03
    assert video.stride == sampling_stride(height, width, 4800)


def test_a_small_moving_object_is_seen():
    # A 20x20 bright square moving by 5 px on a flat background (stride 5 at 320x240).
    video = VideoFeatureExtractor()
    for x in (100, 105):
        plane = np.full((240, 320), 40, dtype=np.uint8)
        plane[100:120, x:x + 20] = 220
        sample = video.update(plane)
    truth = full_resolution(np.where(np.roll(plane, 5, axis=1) > 100, 220, 40), plane)[1]
    # 200 changed pixels, a handful of grid points: seen, within a factor of 2.
    assert truth / 2 < sample.motion < truth * 2


@settings(max_examples=60, deadline=None)
@given(height=st.integers(1, 90), width=st.integers(1, 90), seed=st.integers(0, 99))
def test_exact_when_the_whole_plane_fits_in_max_samples(height, width, seed):
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, (2, height, width), dtype=np.uint8)
    video = VideoFeatureExtractor(max_samples=8100)
    video.update(planes[0])
    sample = video.update(planes[1])
    luma, motion, dark = full_resolution(planes[0].astype(np.float64), planes[1])
    assert video.stride == 1
    assert sample.luma == pytest.approx(luma, abs=1e-9)
    assert sample.motion == pytest.approx(motion, abs=1e-9)
    assert sample.black == (dark >= 0.98)


@pytest.mark.parametrize(("covered", "black"), [(0.0, True), (0.005, True), (0.01, True),
                                                (0.05, False), (0.3, False)])
def test_black_frame_with_a_logo_covering_a_fraction(covered, black):
    plane = np.full((240, 320), 16, dtype=np.uint8)
    side = round(math.sqrt(covered * 240 * 320))
    plane[40:40 + side, 60:60 + side] = 235
    sample = VideoFeatureExtractor().update(plane)
    assert sample.black == black
    assert full_resolution(None, plane)[2] == pytest.approx(1 - covered, abs=0.002)


def test_black_threshold_and_fraction_parameters():
    plane = np.full((240, 320), 30, dtype=np.uint8)
    assert not VideoFeatureExtractor().update(plane).black
    assert VideoFeatureExtractor(black_luma=30.5).update(plane).black
    assert not VideoFeatureExtractor(black_luma=30.0).update(plane).black  # strictly darker
    plane[:120] = 200
    assert VideoFeatureExtractor(black_luma=40, black_fraction=0.5).update(plane).black
    assert not VideoFeatureExtractor(black_luma=40, black_fraction=0.51).update(plane).black


def test_resolution_change_resets_motion():
    video = VideoFeatureExtractor()
    first = video.update(np.full((240, 320), 50, np.uint8))
    assert not first.resolution_changed
    changed = video.update(np.full((480, 640), 90, np.uint8))
    assert changed.resolution_changed and changed.motion == 0.0
    assert (changed.width, changed.height, video.stride) == (640, 480, 9)
    after = video.update(np.full((480, 640), 100, np.uint8))
    assert not after.resolution_changed and after.motion == 10.0
    transposed = video.update(np.full((640, 480), 100, np.uint8))
    assert transposed.resolution_changed and transposed.motion == 0.0


def test_padded_non_contiguous_views_equal_contiguous_planes():
    scene = natural(240, 322, seed=5)
    padded = np.zeros((240, 352), dtype=np.uint8)
    a, b = VideoFeatureExtractor(), VideoFeatureExtractor()
    for dx in (0, 4, 9):
        padded[:, :322] = view(scene, 0, dx, 240, 322)
        padded[:, 322:] = 255                           # garbage in the padding
        from_view = a.update(padded[:, :322])
        assert from_view == b.update(np.ascontiguousarray(padded[:, :322]))
        assert from_view.width == 322
    # The previous grid is a copy: changing the caller's buffer does not change the state.
    padded[:] = 0
    assert a.update(np.full((240, 322), 0, np.uint8)).motion == b.update(
        np.full((240, 322), 0, np.uint8)).motion


def test_sampling_stride_is_the_smallest_that_fits():
    for height, width, budget in [(240, 320, 4800), (720, 1280, 4800), (1080, 1920, 4800),
                                  (1, 10_000, 100), (333, 77, 50), (5, 5, 1)]:
        s = sampling_stride(height, width, budget)
        assert math.ceil(height / s) * math.ceil(width / s) <= budget
        assert s % 2 == 1
        assert s == 1 or math.ceil(height / (s - 2)) * math.ceil(width / (s - 2)) > budget


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.int16), np.zeros(100, np.uint8),
                                 np.zeros((10, 10, 3), np.uint8), np.zeros((0, 10), np.uint8),
                                 [[1, 2], [3, 4]]])
def test_refuses_what_is_not_a_2d_uint8_plane(bad):
    with pytest.raises(ValueError, match="luma must"):
        VideoFeatureExtractor().update(bad)


@pytest.mark.parametrize("kwargs", [{"max_samples": 0}, {"black_luma": -1},
                                    {"black_fraction": 0.0}, {"black_fraction": 1.5}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="must be"):
        VideoFeatureExtractor(**kwargs)


def test_pickle_round_trip_continues_identically():
    scene = natural(240, 320, seed=2)
    planes = [view(scene, k, 2 * k, 240, 320) for k in range(8)]
    reference = VideoFeatureExtractor()
    expected = [reference.update(p) for p in planes]
    for cut in (1, 4):
        video = VideoFeatureExtractor()
        got = [video.update(p) for p in planes[:cut]]
        video = pickle.loads(pickle.dumps(video))
        assert got + [video.update(p) for p in planes[cut:]] == expected


# --- real decoder planes ----------------------------------------------------------------------

def yuv420p_frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    """A panning colour scene, converted by libswscale as a decoder would hand it over."""
    scene = natural(height, width, seed=11)
    frames = []
    for k in range(count):
        y = view(scene, k, 3 * k, height, width)
        rgb = np.stack([y, 255 - y, np.roll(y, 7, axis=1)], axis=-1)
        rgb[: height // 4] = 0                          # a black band at the top
        frames.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return frames


def plane_view(frame: av.VideoFrame) -> np.ndarray:
    """The connector's path: the plane's buffer, rows padded to line_size, padding sliced off."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, :frame.width]


@pytest.mark.parametrize(("width", "height"), [(322, 240), (640, 360)])
def test_planes_of_pyav_frames(width, height):
    frames = yuv420p_frames(width, height, 3)
    assert frames[0].planes[0].line_size >= width
    video = VideoFeatureExtractor()
    previous = None
    for frame in frames:
        plane = plane_view(frame)
        y = frame.to_ndarray()[:height]                 # PyAV's own copy of the Y plane
        np.testing.assert_array_equal(plane, y)
        sample = video.update(plane)
        luma, motion, _ = full_resolution(previous, y)
        assert (sample.width, sample.height) == (width, height)
        assert sample.luma == pytest.approx(luma, abs=2.0)
        assert sample.motion == pytest.approx(motion, rel=0.1, abs=0.5)
        previous = y.astype(np.float64)
    black = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
    sample = video.update(plane_view(black.reformat(format="yuv420p")))
    assert sample.black and sample.luma == pytest.approx(16, abs=1)   # limited-range black


# --- frame timing -----------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [25.0, 30.0, 30000 / 1001])
def test_frame_timing_of_a_steady_rate(fps):
    timing = FrameTiming()
    assert timing.update(3.0) == FrameTimingSample(None, None, None)
    first = timing.update(3.0 + 1 / fps)
    assert first.interval == pytest.approx(1 / fps) and first.jitter is None
    for k in range(2, 100):
        sample = timing.update(3.0 + k / fps)
        assert sample.fps == pytest.approx(fps, rel=1e-9)
        assert sample.jitter == pytest.approx(0.0, abs=1e-9)


def test_frame_timing_from_90_khz_timestamps():
    timing = FrameTiming()
    for k in range(50):
        sample = timing.update(k * 3003 / 90_000)        # 29.97 fps in MPEG-TS ticks
    assert sample.fps == pytest.approx(90_000 / 3003)


@pytest.mark.parametrize("window", [1, 2, 30])
def test_jitter_and_fps_against_numpy_at_every_frame(window):
    rng = np.random.default_rng(window)
    pts = np.cumsum(np.concatenate([rng.normal(1 / 30, 0.004, 60), rng.normal(1 / 15, 0.01, 60)]))
    timing = FrameTiming(window=window)
    timing.update(0.0)
    stamps = np.concatenate([[0.0], pts])
    for i in range(1, stamps.shape[0]):
        sample = timing.update(float(stamps[i]))
        recent = np.diff(stamps[: i + 1])[-window:]
        assert sample.interval == pytest.approx(stamps[i] - stamps[i - 1])
        assert sample.fps == pytest.approx(1 / recent.mean(), rel=1e-9)
        if recent.shape[0] < 2:
            assert sample.jitter is None
        else:
            assert sample.jitter == pytest.approx(float(np.std(recent)), rel=1e-6, abs=1e-12)
    assert 14 < sample.fps < 16 if window == 30 else True


def test_out_of_order_and_repeated_timestamps_are_ignored_and_counted():
    timing = FrameTiming(window=4)
    timing.update(1.0)
    timing.update(1.04)
    before = timing.update(1.08)
    assert timing.update(1.08) == before and timing.update(1.02) == before
    assert timing.out_of_order == 2
    after = timing.update(1.12)
    assert after.interval == pytest.approx(0.04) and after.jitter == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="finite"):
        timing.update(math.nan)
    with pytest.raises(ValueError, match="window"):
        FrameTiming(window=0)
    restored = pickle.loads(pickle.dumps(timing))
    assert restored.update(1.16) == timing.update(1.16) and restored.out_of_order == 2
