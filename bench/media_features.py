"""Per-frame media features: cost and accuracy of the strided video features and the audio windows.

Prints, from one run:

- video, on frames decoded from FFmpeg's lavfi test sources (``testsrc``, ``testsrc2``
  and a zooming ``mandelbrot``, converted to yuv420p) at 320x240, 640x480 and
  1280x720: ``VideoFeatureExtractor.update`` per frame beside the peer, the plain
  full-resolution NumPy computation of the same features (mean luma, mean absolute
  difference from the previous frame, fraction of dark pixels), the cost of getting
  the Y plane out of a PyAV frame as an ndarray (on the real path, before either), and
  the error of the strided estimates against the full-resolution figures;
- audio at 48 kHz in 960-sample (Opus) and 1024-sample (AAC) float32 frames:
  ``AudioFeatureExtractor.update`` per 20 ms window beside the peer, a plain per-window
  loop (one ``np.sqrt(np.mean(w ** 2))`` and one clip count per window, the same VAD in
  Python), checked to give the same windows.

Times are medians over ``--repeats`` passes over all frames, after a warm-up pass.

    python -m bench.media_features --repeats 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence

import av
import numpy as np

from midstream.operators.audio_features import (
    FLOOR_FALL_SECONDS,
    FLOOR_RISE_SECONDS,
    SILENCE_DBFS,
    AudioFeatureExtractor,
    AudioWindow,
)
from midstream.operators.video_features import VideoFeatureExtractor

VIDEO_TARGET_US = {(320, 240): 100.0, (1280, 720): 300.0}
AUDIO_TARGET_US = 10.0
SIZES = [(320, 240), (640, 480), (1280, 720)]
SOURCES = ["testsrc", "testsrc2", "mandelbrot"]
RATE = 48_000


def timed_per_item(run: Callable[[], int], repeats: int) -> float:
    """Median over ``repeats`` of (wall time of ``run`` / the item count it returns), in µs."""
    run()  # warm-up (and numba's compile or cache load)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        items = run()
        times.append((time.perf_counter() - started) / items * 1e6)
    return statistics.median(times)


def decoded_frames(source: str, width: int, height: int, count: int) -> list[av.VideoFrame]:
    """``count`` frames of a lavfi test source, as yuv420p frames a decoder would give."""
    container = av.open(f"{source}=size={width}x{height}:rate=30", format="lavfi")
    frames = []
    try:
        for frame in container.decode(video=0):
            frames.append(frame.reformat(format="yuv420p"))
            if len(frames) == count:
                break
    finally:
        container.close()
    return frames


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The connector's path: the Y plane's buffer, rows of line_size, padding sliced off."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width]


class FullResolution:
    """Peer: the same features over every pixel, in plain NumPy."""

    def __init__(self, black_luma: float = 20.0, black_fraction: float = 0.98) -> None:
        self.black_below = math.ceil(black_luma)
        self.black_fraction = black_fraction
        self.previous: np.ndarray | None = None

    def update(self, luma: np.ndarray) -> tuple[float, float, bool]:
        y = luma.astype(np.int16)
        mean = float(y.mean())
        motion = (0.0 if self.previous is None or self.previous.shape != y.shape
                  else float(np.abs(y - self.previous).mean()))
        black = np.count_nonzero(y < self.black_below) >= self.black_fraction * y.size
        self.previous = y
        return mean, motion, bool(black)


def bench_video(frames_per_source: int, repeats: int) -> None:
    print(f"## Video features per frame ({len(SOURCES)} lavfi sources x {frames_per_source} "
          f"frames, yuv420p; median of {repeats} passes)\n")
    print("| size | stride (grid) | ours µs/frame | peer full-res µs/frame | peer / ours "
          "| plane → ndarray µs | target | |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    accuracy: list[str] = []
    for width, height in SIZES:
        frames = [f for source in SOURCES
                  for f in decoded_frames(source, width, height, frames_per_source)]
        planes = [luma_plane(f) for f in frames]

        def ours(planes: Sequence[np.ndarray] = planes) -> int:
            video = VideoFeatureExtractor()
            for plane in planes:
                video.update(plane)
            return len(planes)

        def peer(planes: Sequence[np.ndarray] = planes) -> int:
            full = FullResolution()
            for plane in planes:
                full.update(plane)
            return len(planes)

        def extract(frames: Sequence[av.VideoFrame] = frames) -> int:
            for frame in frames:
                luma_plane(frame)
            return len(frames)

        ours_us, peer_us = timed_per_item(ours, repeats), timed_per_item(peer, repeats)
        extract_us = timed_per_item(extract, repeats)
        video = VideoFeatureExtractor()
        target = VIDEO_TARGET_US.get((width, height))
        verdict = "—" if target is None else ("MET" if ours_us <= target else "NOT MET")
        target_text = "—" if target is None else f"≤ {target:.0f} µs"
        video.update(planes[0])
        stride = video.stride
        grid = f"{stride} ({-(-width // stride)}x{-(-height // stride)})"
        print(f"| {width}x{height} | {grid} | {ours_us:.1f} | {peer_us:.1f} "
              f"| {peer_us / ours_us:.1f}x | {extract_us:.1f} | {target_text} | {verdict} |")
        for k, source in enumerate(SOURCES):
            video, full = VideoFeatureExtractor(), FullResolution()
            luma_err, motion_err, motion_full, black_agree = [], [], [], 0
            for i, plane in enumerate(planes[k * frames_per_source:(k + 1) * frames_per_source]):
                sample = video.update(plane)
                luma, motion, black = full.update(plane)
                luma_err.append(abs(sample.luma - luma))
                if i > 0:
                    motion_err.append(abs(sample.motion - motion))
                    motion_full.append(motion)
                black_agree += sample.black == black
            accuracy.append(
                f"| {width}x{height} | {source} | {np.median(luma_err):.2f} | "
                f"{np.max(luma_err):.2f} | {np.median(motion_full):.2f} | "
                f"{np.median(motion_err):.3f} | {np.max(motion_err):.3f} | "
                f"{black_agree}/{frames_per_source} |")
    print("\nAccuracy of the strided estimates against the full-resolution figures (same "
          "frames; luma and motion in grey levels, 0..255):\n")
    print("| size | source | luma abs err median | luma abs err max | full-res motion median "
          "| motion abs err median | motion abs err max | black agrees |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(accuracy))
    print()


class PerWindowLoop:
    """Peer: buffer the samples, then one NumPy RMS and clip count per window, VAD in Python."""

    def __init__(self, sample_rate: int, window_ms: float = 20.0, margin_db: float = 9.0,
                 min_voice_dbfs: float = -50.0, hangover_windows: int = 4,
                 clip_level: float = 0.999) -> None:
        self.rate = sample_rate
        self.n = round(sample_rate * window_ms / 1000)
        seconds = self.n / sample_rate
        self.fall = 1 - math.exp(-seconds / FLOOR_FALL_SECONDS)
        self.rise = 1 - math.exp(-seconds / FLOOR_RISE_SECONDS)
        self.margin, self.min_voice = margin_db, min_voice_dbfs
        self.hangover, self.clip_level = hangover_windows, clip_level
        self.floor, self.hang = min_voice_dbfs - margin_db, 0
        self.buffer = np.empty(0)
        self.done = 0

    def update(self, samples: np.ndarray) -> list[AudioWindow]:
        x = np.concatenate([self.buffer, samples.astype(np.float64)])
        out = []
        k = 0
        while (k + 1) * self.n <= x.shape[0]:
            w = x[k * self.n:(k + 1) * self.n]
            rms = np.sqrt(np.mean(w ** 2))
            level = max(20 * math.log10(rms), SILENCE_DBFS) if rms > 0 else SILENCE_DBFS
            if level > self.floor + self.margin and level > self.min_voice:
                voice, self.hang = True, self.hangover
            elif self.hang > 0:
                voice, self.hang = True, self.hang - 1
            else:
                voice = False
            self.floor += (self.fall if level < self.floor else self.rise) * (level - self.floor)
            clipped = float(np.mean(np.abs(w) >= self.clip_level))
            out.append(AudioWindow(self.done * self.n / self.rate, level, voice, clipped,
                                   self.floor))
            self.done += 1
            k += 1
        self.buffer = x[k * self.n:]
        return out


def speechlike(seconds: float) -> np.ndarray:
    """Syllable-like 220 Hz bursts (4 per second, 60 % duty) over -55 dBFS noise, float32."""
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = (np.sin(2 * np.pi * 4 * t) > -0.3) * (t % 3 < 2)
    x = 0.3 * envelope * np.sin(2 * np.pi * 220 * t) + 10 ** (-55 / 20) * rng.standard_normal(
        t.shape[0])
    return x.astype(np.float32)


def bench_audio(seconds: float, repeats: int) -> None:
    x = speechlike(seconds)
    print(f"## Audio windows of 20 ms at 48 kHz ({seconds:.0f} s of float32 audio; median of "
          f"{repeats} passes)\n")
    print("| frame | ours µs/window | ours µs/frame | peer per-window loop µs/window | peer / ours "
          "| same windows | target | |")
    print("|---|---:|---:|---:|---:|---|---:|---|")
    for frame in (960, 1024):
        chunks = [x[i:i + frame] for i in range(0, x.shape[0] - frame + 1, frame)]
        windows = sum(len(c) for c in chunks) // 960

        def ours(chunks: list[np.ndarray] = chunks, windows: int = windows) -> int:
            features = AudioFeatureExtractor(RATE)
            for chunk in chunks:
                features.update(chunk)
            return windows

        def peer(chunks: list[np.ndarray] = chunks, windows: int = windows) -> int:
            loop = PerWindowLoop(RATE)
            for chunk in chunks:
                loop.update(chunk)
            return windows

        ours_us, peer_us = timed_per_item(ours, repeats), timed_per_item(peer, repeats)
        features, loop = AudioFeatureExtractor(RATE), PerWindowLoop(RATE)
        got = [w for c in chunks for w in features.update(c)]
        expected = [w for c in chunks for w in loop.update(c)]
        same = (len(got) == len(expected) and all(
            a.start == b.start and a.voice == b.voice and a.clipped == b.clipped
            and abs(a.rms_dbfs - b.rms_dbfs) < 1e-9
            and abs(a.noise_floor_dbfs - b.noise_floor_dbfs) < 1e-9
            for a, b in zip(got, expected, strict=True)))
        verdict = "MET" if ours_us <= AUDIO_TARGET_US else "NOT MET"
        print(f"| {frame} samples | {ours_us:.2f} | {ours_us * windows / len(chunks):.2f} "
              f"| {peer_us:.2f} | {peer_us / ours_us:.1f}x | {'yes' if same else 'NO'} "
              f"| ≤ {AUDIO_TARGET_US:.0f} µs/window | {verdict} |")
    voiced = sum(w.voice for w in got) / len(got)
    print(f"\nThe VAD calls {voiced:.0%} of the windows voice: the bursts fill 2 s of every 3 "
          "(their 100 ms gaps are within the 80 ms hangover once the windows at their edges "
          "are counted), plus each 2 s stretch's hangover: 2/3 + 4/150 = 69 %.\n")


def bench_tap(frames_per_source: int, repeats: int) -> None:
    """The whole edge path: FeatureTap turns decoded frames into records (records included)."""
    from midstream.connectors.media.features import FeatureTap

    print("## The edge path: FeatureTap, decoded frame to feature record (median of "
          f"{repeats} passes)\n")
    print("| input | µs per record | target | |")
    print("|---|---:|---:|---|")
    for width, height in ((320, 240), (1280, 720)):
        frames = decoded_frames("testsrc2", width, height, frames_per_source)
        tap = FeatureTap("bench", "file", lambda record: None)

        def run_video(tap: FeatureTap = tap, frames: list[av.VideoFrame] = frames) -> int:
            for frame in frames:
                tap.video(frame)
            return len(frames)

        us = timed_per_item(run_video, repeats)
        target = VIDEO_TARGET_US[(width, height)]
        print(f"| {width}x{height} yuv420p frame | {us:.1f} | ≤ {target:.0f} µs | "
              f"{'MET' if us <= target else 'NOT MET'} |")
    container = av.open(f"sine=frequency=440:sample_rate={RATE}:duration=10", format="lavfi")
    try:
        sound = list(container.decode(audio=0))
    finally:
        container.close()
    records: list[object] = []
    audio_tap = FeatureTap("bench", "file", records.append)

    def run_audio() -> int:
        before = len(records)
        for frame in sound:
            audio_tap.audio(frame)
        return len(records) - before

    us = timed_per_item(run_audio, repeats)
    print(f"| s16 mono frames of {sound[0].samples} samples, per 20 ms window | {us:.1f} | "
          f"≤ {AUDIO_TARGET_US:.0f} µs | {'MET' if us <= AUDIO_TARGET_US else 'NOT MET'} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=60, help="frames per lavfi source and size")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of audio")
    args = parser.parse_args()
    bench_video(args.frames, args.repeats)
    bench_audio(args.seconds, args.repeats)
    bench_tap(args.frames, args.repeats)


if __name__ == "__main__":
    main()
