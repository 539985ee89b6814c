"""RTMP ingest against a real nginx-rtmp, fed by ffmpeg: features, drops, reconnects, bad input."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from midstream.connectors.media.options import PullOptions
from midstream.connectors.media.pull import MediaPuller
from midstream.core.media_events import MediaRecord
from midstream.stack.nginx_rtmp import NginxRtmpServer
from midstream.stack.process import free_port
from tests.integration.media_peers import (
    FPS,
    MOVING_S,
    SAMPLE_RATE,
    SILENT_FROM_S,
    SILENT_TO_S,
    Publisher,
    fraction,
    fresh_name,
    mean,
    of_kind,
    start_publisher,
    statuses,
    stop_publisher,
    wait_for,
)

# Short timeouts so that drops are noticed, and the puller stops, within ~2 s.
FAST = PullOptions(open_timeout_s=2.0, read_timeout_s=2.0, initial_backoff_s=0.2,
                   max_backoff_s=1.0)


def test_rtmp_features_follow_the_pattern_and_a_kill_is_reported(
    nginx_rtmp: NginxRtmpServer, publishers: list[Publisher], pullers: list[MediaPuller],
    tmp_path: Path,
) -> None:
    name = fresh_name()
    records: list[MediaRecord] = []
    puller = MediaPuller(nginx_rtmp.stream_url(name), name, records.append, options=FAST)
    pullers.append(puller)
    puller.start()  # before the publisher: nginx-rtmp holds the player until it publishes
    publisher = start_publisher(nginx_rtmp.stream_url(name), tmp_path, duration=20.0)
    publishers.append(publisher)

    wait_for(lambda: bool(of_kind(records, "video", 8.5)), 20.0, "8.5 s of video")
    stop_publisher(publisher)
    wait_for(lambda: "reconnecting" in statuses(records), 10.0, "a reconnecting status")

    connected = next(r for r in records if r.status == "connected")
    assert connected.source == "rtmp" and connected.meta is not None
    assert connected.meta["video_codec"] == "h264" and connected.meta["sample_rate"] == SAMPLE_RATE
    video = of_kind(records, "video")
    fps = [r.fps for r in video[-50:] if r.fps is not None]
    assert fps and all(abs(f - FPS) <= 0.1 * FPS for f in fps), fps
    assert all((r.width, r.height) == (320, 240) for r in video)
    audio = of_kind(records, "audio")
    assert {r.sample_rate for r in audio} == {SAMPLE_RATE}

    # Section boundaries, with a margin for the encoder's and the 20 ms windows' smear.
    tone = of_kind(records, "audio", 0.5, SILENT_FROM_S - 0.5)
    silence = of_kind(records, "audio", SILENT_FROM_S + 0.5, SILENT_TO_S - 0.5)
    assert len(tone) > 50 and len(silence) > 50
    assert fraction([r.voice for r in tone]) > 0.9
    assert fraction([r.voice for r in silence]) < 0.1
    assert mean([r.rms_dbfs for r in tone]) > mean([r.rms_dbfs for r in silence]) + 40

    moving = of_kind(records, "video", 0.5, MOVING_S - 0.5)
    frozen = of_kind(records, "video", MOVING_S + 0.5, 8.5)
    assert len(moving) > 50 and len(frozen) > 50
    assert mean([r.motion for r in moving]) > 0.1
    assert mean([r.motion for r in frozen]) < 0.02
    assert mean([r.motion for r in frozen]) < mean([r.motion for r in moving]) / 10

    states = statuses(records)
    dropped = states.index("dropped")
    assert states[dropped + 1] == "reconnecting"
    drop = next(r for r in records if r.status == "dropped")
    assert drop.error is not None and drop.error.startswith(nginx_rtmp.stream_url(name))
    assert puller.stats.decode_errors == 0


def test_rtmp_publisher_restart_with_the_same_name_resumes_frames(
    nginx_rtmp: NginxRtmpServer, publishers: list[Publisher], pullers: list[MediaPuller],
    tmp_path: Path,
) -> None:
    name = fresh_name()
    url = nginx_rtmp.stream_url(name)
    records: list[MediaRecord] = []
    puller = MediaPuller(url, name, records.append, options=FAST)
    pullers.append(puller)
    puller.start()
    first = start_publisher(url, tmp_path, duration=20.0)
    publishers.append(first)
    wait_for(lambda: len(of_kind(records, "video")) >= 50, 15.0, "2 s of video")
    stop_publisher(first)
    wait_for(lambda: "reconnecting" in statuses(records), 10.0, "a reconnecting status")
    frames_before = puller.stats.video_frames

    second = start_publisher(url, tmp_path, duration=20.0)
    publishers.append(second)
    wait_for(lambda: statuses(records).count("connected") >= 2, 15.0, "a second connected")
    wait_for(lambda: puller.stats.video_frames >= frames_before + 50, 15.0,
             "2 s of video from the second publisher")

    states = statuses(records)
    assert states[0] == "connected"
    assert "dropped" in states and states.index("dropped") < len(states) - 1
    last_connect = max(i for i, s in enumerate(states) if s == "connected")
    assert last_connect > states.index("dropped")
    assert puller.stats.connects >= 2 and puller.stats.reconnects >= 1
    # Live RTMP does not resume: the new publisher's timeline starts again near 0.
    after = [r for r in records if r.kind == "video"][-25:]
    assert all(r.pts is not None and r.pts < 10.0 for r in after)


def test_garbage_on_the_rtmp_port_harms_neither_server_nor_other_streams(
    nginx_rtmp: NginxRtmpServer, publishers: list[Publisher], pullers: list[MediaPuller],
    tmp_path: Path,
) -> None:
    name = fresh_name()
    records: list[MediaRecord] = []
    puller = MediaPuller(nginx_rtmp.stream_url(name), name, records.append, options=FAST)
    pullers.append(puller)
    puller.start()
    publishers.append(start_publisher(nginx_rtmp.stream_url(name), tmp_path, duration=20.0))
    wait_for(lambda: puller.stats.video_frames >= 25, 15.0, "1 s of video")

    rng = random.Random(11)
    for attempt in range(20):
        with socket.create_connection(("127.0.0.1", nginx_rtmp.rtmp_port), timeout=2) as sock:
            # A valid version byte then garbage, or garbage from the first byte.
            head = b"\x03" if attempt % 2 else b""
            try:
                sock.sendall(head + rng.randbytes(rng.randint(1, 8000)))
                sock.settimeout(0.2)
                sock.recv(4096)
            except OSError:
                pass  # the server may reset us; that is its right

    frames = puller.stats.video_frames
    wait_for(lambda: puller.stats.video_frames >= frames + 50, 10.0, "2 more s of video")
    assert nginx_rtmp.is_running()
    assert "dropped" not in statuses(records)

    other = fresh_name()
    other_records: list[MediaRecord] = []
    second = MediaPuller(nginx_rtmp.stream_url(other), other, other_records.append, options=FAST)
    pullers.append(second)
    second.start()
    publishers.append(start_publisher(nginx_rtmp.stream_url(other), tmp_path, duration=20.0))
    wait_for(lambda: second.stats.video_frames >= 25, 15.0, "video on a new stream")


def test_refused_rtmp_url_reports_the_reason_with_growing_backoff(
    pullers: list[MediaPuller],
) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/{fresh_name()}"  # nothing listens there
    records: list[MediaRecord] = []
    options = PullOptions(initial_backoff_s=0.1, max_backoff_s=0.8, backoff_factor=2.0,
                          jitter=0.1)
    puller = MediaPuller(url, "refused", records.append, options=options)
    pullers.append(puller)
    puller.start()
    wait_for(lambda: statuses(records).count("reconnecting") >= 5, 10.0, "5 retries")
    assert puller.stop(timeout=5.0)

    errors = [r for r in records if r.status == "error"]
    assert errors and {r.error for r in errors} == {f"{url}: Connection refused"}
    backoffs = [r.meta["backoff_s"] for r in records if r.status == "reconnecting" and r.meta]
    assert backoffs[:4] == sorted(backoffs[:4]) and backoffs[3] > 2 * backoffs[0]
    assert max(backoffs) <= 0.8
    assert statuses(records)[-1] == "ended"
