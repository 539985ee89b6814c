"""Unit tests of connectors/media/pull.py and options.py: options, backoff, files made by ffmpeg."""

from __future__ import annotations

import pickle
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from midstream.connectors.media.exceptions import MediaError, PullConfigError
from midstream.connectors.media.options import (
    PullOptions,
    backoff_delay,
    container_options,
    source_kind,
)
from midstream.connectors.media.pull import MediaPuller, PullPosition
from midstream.core.media_events import MediaRecord
from midstream.stack.process import free_port

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def make_clip(path: Path, seconds: float = 2.0, *extra: str) -> Path:
    """A short testsrc + sine clip, as our tests generate media (never downloaded)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
         "-c:a", "aac", *extra, str(path)],
        check=True, timeout=60,
    )
    return path


def pts_of(records: list[MediaRecord], kind: str) -> list[float]:
    return [r.pts for r in records if r.kind == kind and r.pts is not None]


def statuses(records: list[MediaRecord]) -> list[str | None]:
    return [r.status for r in records if r.kind == "status"]


# --- options --------------------------------------------------------------------------


def test_source_kind_by_url() -> None:
    assert source_kind("rtmp://127.0.0.1/live/a") == "rtmp"
    assert source_kind("RTMPS://h/live/a") == "rtmp"
    assert source_kind("http://h/hls/a.m3u8") == "hls"
    assert source_kind("https://h/master") == "hls"
    assert source_kind("/data/a.m3u8") == "hls"
    assert source_kind("/data/a.mp4") == "file"
    assert source_kind("file:/data/a.flv") == "file"


def test_container_options_per_protocol() -> None:
    options = PullOptions(probesize=65536, analyzeduration_us=100_000, hls_live_start_index=-3)
    assert container_options("rtmp", options) == {
        "probesize": "65536", "analyzeduration": "100000", "rtmp_live": "live"}
    assert container_options("hls", options) == {
        "probesize": "65536", "analyzeduration": "100000", "live_start_index": "-3"}
    assert container_options("file", options) == {
        "probesize": "65536", "analyzeduration": "100000"}
    with pytest.raises(PullConfigError, match="rtmp, hls, file"):
        container_options("srt", options)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("probesize", 8, "probesize"),
    ("read_timeout_s", 0, "read_timeout_s"),
    ("max_backoff_s", 0.1, "max_backoff_s"),
    ("backoff_factor", 0.5, "backoff_factor"),
    ("jitter", 1.5, "jitter"),
    ("max_attempts", 0, "max_attempts"),
    ("gap_threshold_s", 0, "gap_threshold_s"),
    ("video", False, "video and audio"),
])
def test_invalid_options_name_the_field(field: str, value: object, message: str) -> None:
    kwargs: dict[str, object] = {field: value}
    if field == "video":
        kwargs["audio"] = False
    with pytest.raises(PullConfigError, match=message):
        PullOptions(**kwargs)  # type: ignore[arg-type]
    assert issubclass(PullConfigError, MediaError) and issubclass(PullConfigError, ValueError)


def test_backoff_grows_exponentially_to_the_cap() -> None:
    options = PullOptions(initial_backoff_s=0.5, backoff_factor=2.0, max_backoff_s=10.0)
    delays = [backoff_delay(n, options, jitter=0.0) for n in range(1, 9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert backoff_delay(10_000, options, jitter=0.0) == 10.0  # no overflow


def test_backoff_jitter_stays_within_its_fraction() -> None:
    options = PullOptions(initial_backoff_s=1.0, jitter=0.25)
    rng = random.Random(7)
    delays = [backoff_delay(1, options, rng=rng) for _ in range(500)]
    assert all(0.75 <= d <= 1.0 for d in delays)
    assert max(delays) - min(delays) > 0.2  # actually spread
    with pytest.raises(PullConfigError):
        backoff_delay(0, options)


def test_options_and_position_pickle() -> None:
    options = PullOptions(max_attempts=3)
    assert pickle.loads(pickle.dumps(options)) == options
    position = PullPosition(video_pts=1.5, audio_pts=1.52)
    assert pickle.loads(pickle.dumps(position)) == position


# --- pulling ----------------------------------------------------------------------------


@needs_ffmpeg
def test_pulls_a_local_file_into_feature_records(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 2.0)
    records: list[MediaRecord] = []
    puller = MediaPuller(str(clip), "clip-1", records.append)
    puller.run(threading.Event())

    assert statuses(records) == ["connected", "ended"]
    connected = next(r for r in records if r.status == "connected")
    assert connected.meta is not None
    assert connected.meta["video_codec"] == "h264" and connected.meta["audio_codec"] == "aac"
    assert (connected.meta["width"], connected.meta["height"]) == (160, 120)
    assert connected.meta["fps"] == 25.0 and connected.meta["sample_rate"] == 48000
    video = [r for r in records if r.kind == "video"]
    audio = [r for r in records if r.kind == "audio"]
    video_pts = pts_of(records, "video")
    assert len(video) == 50 and puller.stats.video_frames == 50
    assert {r.source for r in records} == {"file"}
    assert video_pts == sorted(video_pts)
    assert 1.9 <= len(audio) * 0.02 <= 2.1  # one record per 20 ms
    assert {r.sample_rate for r in audio} == {48000}
    assert [r.seq for r in records] == list(range(len(records)))
    assert puller.position.video_pts == video[-1].pts


@needs_ffmpeg
def test_video_only_option_decodes_no_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 1.0)
    records: list[MediaRecord] = []
    MediaPuller(str(clip), "v", records.append, options=PullOptions(audio=False)).run(
        threading.Event())
    assert not [r for r in records if r.kind == "audio"]
    assert len([r for r in records if r.kind == "video"]) == 25


@needs_ffmpeg
def test_restored_position_skips_what_was_delivered(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.ts", 2.0)  # MPEG-TS, as HLS segments are
    first: list[MediaRecord] = []
    MediaPuller(str(clip), "a", first.append).run(threading.Event())
    video = pts_of(first, "video")
    halfway = video[len(video) // 2]

    again: list[MediaRecord] = []
    puller = MediaPuller(str(clip), "a", again.append)
    puller.position = PullPosition(video_pts=halfway, audio_pts=None)
    puller.run(threading.Event())
    resumed = pts_of(again, "video")
    assert resumed == [p for p in video if p > halfway]
    assert puller.stats.skipped_frames == len(video) - len(resumed)
    assert any(r.kind == "audio" for r in again)  # audio had no position: all of it


@needs_ffmpeg
def test_corrupt_bytes_are_skipped_not_fatal(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.ts", 3.0)
    data = bytearray(clip.read_bytes())
    rng = random.Random(3)
    for start in range(len(data) // 4, len(data) // 2, 4096):  # smash a run of packets
        data[start:start + 1500] = rng.randbytes(1500)
    clip.write_bytes(bytes(data))
    records: list[MediaRecord] = []
    puller = MediaPuller(str(clip), "bad", records.append)
    puller.run(threading.Event())
    assert statuses(records)[0] == "connected" and statuses(records)[-1] == "ended"
    assert puller.stats.video_frames > 20  # frames before and after the damage
    assert pts_of(records, "video")[-1] > 2.5


def test_refused_url_retries_with_growing_backoff_and_clear_reason() -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    records: list[MediaRecord] = []
    options = PullOptions(initial_backoff_s=0.05, max_backoff_s=0.4, jitter=0.0, max_attempts=6)
    puller = MediaPuller(url, "x", records.append, options=options)
    puller.run(threading.Event())

    assert statuses(records) == ["error", "reconnecting"] * 5 + ["error", "ended"]
    errors = [r for r in records if r.status == "error"]
    assert {r.error for r in errors} == {f"{url}: Connection refused"}
    backoffs = [r.meta["backoff_s"] for r in records if r.status == "reconnecting" and r.meta]
    assert backoffs == [0.05, 0.1, 0.2, 0.4, 0.4]
    attempts = [r.meta["attempt"] for r in records if r.status == "reconnecting" and r.meta]
    assert attempts == [1, 2, 3, 4, 5]
    ended = records[-1]
    assert ended.error is not None and "gave up after 6 failed attempts" in ended.error
    assert puller.stats.errors == 6 and puller.stats.reconnects == 5


def test_stop_interrupts_the_backoff_wait() -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    records: list[MediaRecord] = []
    options = PullOptions(initial_backoff_s=30.0, max_backoff_s=30.0)
    puller = MediaPuller(url, "x", records.append, options=options)
    puller.start()
    deadline = time.monotonic() + 5
    while "reconnecting" not in statuses(records) and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    assert puller.stop(timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert statuses(records)[-1] == "ended"


def test_silent_server_times_out_with_a_clear_reason() -> None:
    """A server that accepts but never answers: the open times out, it is retried."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"rtmp://127.0.0.1:{server.getsockname()[1]}/live/x"
        records: list[MediaRecord] = []
        options = PullOptions(open_timeout_s=0.5, read_timeout_s=0.5, max_attempts=2,
                              initial_backoff_s=0.05)
        started = time.monotonic()
        MediaPuller(url, "x", records.append, options=options).run(threading.Event())
        assert time.monotonic() - started < 5.0
    errors = [r.error for r in records if r.status == "error"]
    assert len(errors) == 2
    assert all(e is not None and e.startswith(f"{url}: no media within 0.5 s") for e in errors)


@needs_ffmpeg
def test_a_jump_in_media_time_is_reported_once_and_reading_goes_on(tmp_path: Path) -> None:
    clip = tmp_path / "gap.ts"
    subprocess.run(  # frames 25-49 cut out, timestamps kept: a 1 s hole
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "3",
         "-vf", "select='not(between(n\\,25\\,49))'", "-fps_mode", "passthrough",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
        check=True, timeout=60,
    )
    records: list[MediaRecord] = []
    puller = MediaPuller(str(clip), "gap", records.append)
    puller.run(threading.Event())
    assert statuses(records) == ["connected", "error", "ended"]
    error = next(r for r in records if r.status == "error")
    assert error.error is not None and error.error.startswith(f"{clip}: 1.04 s of video missing")
    assert error.meta is not None and error.meta["gap_s"] == 1.04
    video = pts_of(records, "video")
    assert error.meta["media"] == "video" and error.meta["after_pts"] == pytest.approx(video[24])
    assert puller.stats.gaps == 1 and puller.stats.video_frames == 50

    quiet: list[MediaRecord] = []
    MediaPuller(str(clip), "gap", quiet.append,
                options=PullOptions(gap_threshold_s=None)).run(threading.Event())
    assert statuses(quiet) == ["connected", "ended"]


@needs_ffmpeg
def test_a_failing_feature_tap_skips_the_frame_not_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 1.0)
    records: list[MediaRecord] = []
    puller = MediaPuller(str(clip), "f", records.append)
    original = puller.tap.video
    calls = [0]

    def flaky_video(frame: object) -> None:
        calls[0] += 1
        if calls[0] % 5 == 0:
            raise ValueError("odd frame")
        original(frame)  # type: ignore[arg-type]

    monkeypatch.setattr(puller.tap, "video", flaky_video)
    puller.run(threading.Event())
    assert statuses(records) == ["connected", "ended"]
    assert puller.stats.feature_errors == 5 and puller.stats.video_frames == 20
