"""HLS ingest: nginx-rtmp's live HLS output, resuming without duplicates, a truncated segment."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from midstream.connectors.media.options import PullOptions
from midstream.connectors.media.pull import MediaPuller
from midstream.core.media_events import MediaRecord
from midstream.stack.nginx_rtmp import NginxRtmpServer
from tests.integration.media_peers import (
    FPS,
    SAMPLE_RATE,
    Publisher,
    fresh_name,
    of_kind,
    start_publisher,
    statuses,
    wait_for,
)

FAST = PullOptions(open_timeout_s=3.0, read_timeout_s=3.0, initial_backoff_s=0.2,
                   max_backoff_s=1.0)


def playlist_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return b".ts" in response.read()
    except (urllib.error.URLError, OSError):
        return False


def video_pts(records: list[MediaRecord]) -> list[float]:
    return [r.pts for r in of_kind(records, "video") if r.pts is not None]


def test_hls_features_and_resume_without_duplicates(
    nginx_rtmp: NginxRtmpServer, publishers: list[Publisher], pullers: list[MediaPuller],
    tmp_path: Path,
) -> None:
    name = fresh_name("h")
    url = nginx_rtmp.hls_url(name)
    publisher = start_publisher(nginx_rtmp.stream_url(name), tmp_path, duration=10.0)
    publishers.append(publisher)
    wait_for(lambda: playlist_ready(url), 10.0, "the HLS playlist")

    first: list[MediaRecord] = []
    puller = MediaPuller(url, name, first.append, options=FAST)
    pullers.append(puller)
    puller.start()
    wait_for(lambda: len(video_pts(first)) >= 50, 15.0, "2 s of HLS video")
    assert puller.stop(timeout=10.0)

    # A second reader resumes from the first's position, deliberately rejoining 4
    # segments back: what the first already delivered must be skipped, not repeated.
    second: list[MediaRecord] = []
    resumed = MediaPuller(url, name, second.append,
                          options=PullOptions(**{**FAST.__dict__, "hls_live_start_index": -4}))
    resumed.position = puller.position
    pullers.append(resumed)
    resumed.start()
    # When the publisher ends, the playlist goes stale: the reader drops, reconnects
    # to the same playlist, and must again skip what it already has.
    wait_for(lambda: statuses(second).count("connected") >= 2, 25.0, "a reconnect")
    assert resumed.stop(timeout=10.0)

    assert {r.source for r in first + second} == {"hls"}
    before, after = video_pts(first), video_pts(second)
    assert before and after
    assert min(after) > max(before)
    assert after == sorted(set(after)), "a video pts was delivered twice"
    audio_after = [r.pts for r in of_kind(second, "audio") if r.pts is not None]
    assert audio_after == sorted(set(audio_after)), "an audio window was delivered twice"
    assert resumed.stats.skipped_frames > 0
    assert "dropped" in statuses(second)

    video = of_kind(first + second, "video")
    fps = [r.fps for r in video[-40:] if r.fps is not None]
    assert fps and all(abs(f - FPS) <= 0.1 * FPS for f in fps), fps
    assert all((r.width, r.height) == (320, 240) for r in video)
    audio = of_kind(first + second, "audio")
    assert audio and {r.sample_rate for r in audio} == {SAMPLE_RATE}
    assert any(r.voice for r in audio)


class _Cutter(http.server.SimpleHTTPRequestHandler):
    """Serves a directory, but cuts ``cut.ts`` off halfway (the full length is announced)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith("/cut.ts"):
            super().do_GET()
            return
        data = (Path(self.directory) / "cut.ts").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


@pytest.fixture
def truncated_playlist(tmp_path: Path, ffmpeg: str) -> Iterator[str]:
    """URL of a 6 s VOD playlist (1 s segments) whose third segment arrives cut in half."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE}", "-t", "6",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
         "-hls_segment_filename", str(tmp_path / "seg%d.ts"), str(tmp_path / "index.m3u8")],
        check=True, timeout=60,
    )
    (tmp_path / "seg2.ts").rename(tmp_path / "cut.ts")
    playlist = tmp_path / "index.m3u8"
    playlist.write_text(playlist.read_text().replace("seg2.ts", "cut.ts"))
    handler = functools.partial(_Cutter, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/index.m3u8"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_truncated_hls_segment_is_reported_and_reading_goes_on(truncated_playlist: str) -> None:
    records: list[MediaRecord] = []
    puller = MediaPuller(truncated_playlist, "cut", records.append,
                         options=PullOptions(**{**FAST.__dict__, "hls_live_start_index": 0}))
    runner = threading.Thread(target=puller.run, args=(threading.Event(),))
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "a VOD playlist must end by itself"

    gaps = [r for r in records if r.status == "error"]
    assert gaps, statuses(records)
    reason = gaps[0].error
    assert reason is not None and reason.startswith(truncated_playlist)
    assert "missing" in reason and "truncated" in reason
    assert statuses(records)[0] == "connected" and statuses(records)[-1] == "ended"
    pts = video_pts(records)
    gap_at = gaps[0].meta["after_pts"] if gaps[0].meta else 0.0
    assert any(p > gap_at + 1.0 for p in pts), "no frames after the truncated segment"
    assert puller.stats.gaps >= 1
