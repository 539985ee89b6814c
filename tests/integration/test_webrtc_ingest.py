"""WebRTC ingest with real peers: headless Chromium and an aiortc peer send at the same time.

Chromium loads the ingest's own sender page (fake camera: 640x480 at 20 fps,
fake microphone: a beep); the aiortc peer sends a moving pattern at 30 fps and
a 440 Hz tone. Both connect over loopback only, which works because the ingest
offers 127.0.0.1 host candidates (``host_addresses``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from midstream.connectors.webrtc.server import REJECTED_STREAM_ID, WebRtcIngest
from midstream.core.media_events import MediaRecord, encode_media_record, parse_media_record
from tests.integration.conftest import unavailable
from tests.integration.webrtc_peers import (
    CHROMIUM,
    PatternVideoTrack,
    ToneAudioTrack,
    chromium,
    chromium_available,
    send,
)

WARMUP = 3.0  # seconds after "connected" left out of the rates (encoder ramp-up, jitter buffer)
MEASURE = 8.0


@pytest.fixture
def launch_chromium(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start headless Chromium on a URL; teardown kills each one with its process group."""
    if not chromium_available():
        unavailable(f"no Chromium at {CHROMIUM}")
    running: list[Any] = []

    def launch(url: str) -> subprocess.Popen[bytes]:
        manager = chromium(url, log_path=tmp_path / f"chromium-{len(running)}.log")
        process = manager.__enter__()
        running.append(manager)
        return process

    yield launch
    for manager in reversed(running):
        manager.__exit__(None, None, None)


class Collected:
    """Records by stream, checked against the wire format as they come."""

    def __init__(self) -> None:
        self.records: list[MediaRecord] = []

    def __call__(self, record: MediaRecord) -> None:
        assert parse_media_record(encode_media_record(record)) == record
        self.records.append(record)

    def of(self, stream_id: str, kind: str) -> list[MediaRecord]:
        return [r for r in self.records if r.stream_id == stream_id and r.kind == kind]

    def statuses(self, stream_id: str) -> list[str | None]:
        return [r.status for r in self.of(stream_id, "status")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        for _ in range(int(timeout / 0.1)):
            if predicate():
                return
            await asyncio.sleep(0.1)
        statuses = [(r.stream_id, r.status, r.error) for r in self.records
                    if r.kind == "status"]
        raise AssertionError(f"timed out after {timeout} s; statuses: {statuses}")


def _rate(records: list[MediaRecord], start: float, end: float) -> float:
    """Records per second whose arrival time (``ts``) lies in [start, end)."""
    return sum(start <= r.ts < end for r in records) / (end - start)


def test_chromium_and_aiortc_peers_at_once(
        launch_chromium: Callable[[str], subprocess.Popen[bytes]]) -> None:
    collected = Collected()

    async def main() -> tuple[float, float]:
        ingest = WebRtcIngest(collected, host_addresses=("127.0.0.1",))
        await ingest.start()
        sender = None
        try:
            launch_chromium(f"{ingest.url}/?stream_id=chrome-1&autostart=1")
            sender = await send(ingest.url, "aiortc-1", video=PatternVideoTrack(fps=30),
                                audio=ToneAudioTrack(440.0))
            await collected.wait_for(lambda: all(
                "connected" in collected.statuses(s) for s in ("chrome-1", "aiortc-1")), 20)
            assert sorted(ingest.stream_ids) == ["aiortc-1", "chrome-1"]
            await asyncio.sleep(WARMUP + MEASURE)
            end_wall = collected.records[-1].ts
            return end_wall - MEASURE, end_wall
        finally:
            if sender is not None:
                await sender.close()
            await ingest.stop()

    start, end = asyncio.run(main())

    expected_fps = {"chrome-1": 20.0, "aiortc-1": 30.0}
    for stream_id, fps in expected_fps.items():
        assert collected.statuses(stream_id)[0] == "connected"
        assert collected.statuses(stream_id)[-1] == "ended"
        video = collected.of(stream_id, "video")
        received = _rate(video, start, end)
        assert fps * 0.75 <= received <= fps * 1.25, (stream_id, received)
        measured = [r for r in video if start <= r.ts < end]
        assert {(r.width, r.height) for r in measured} <= {(640, 480), (480, 360), (320, 240)}
        pts = [r.pts for r in measured if r.pts is not None]
        assert pts == sorted(pts), "media timestamps must be kept, in order"
        assert (pts[-1] - pts[0]) == pytest.approx(end - start, abs=1.5)

        audio = [r for r in collected.of(stream_id, "audio") if start <= r.ts < end]
        assert {r.sample_rate for r in audio} == {48_000}
        assert 50 * 0.75 <= len(audio) / (end - start) <= 50 * 1.25, (stream_id, len(audio))

    # aiortc's tone: a steady 440 Hz at 0.3 of full scale (about -13.5 dBFS). It is no
    # speech, but loud enough to pass the voice-activity gate at least while it is new.
    tone = [r for r in collected.of("aiortc-1", "audio") if start <= r.ts < end]
    assert -22 <= statistics.median(r.rms_dbfs or -200 for r in tone) <= -8
    assert any(r.voice for r in collected.of("aiortc-1", "audio"))
    # Chromium's fake microphone beeps: loud windows between silent ones.
    beep = [r for r in collected.of("chrome-1", "audio") if start <= r.ts < end]
    levels = [r.rms_dbfs or -200 for r in beep]
    assert max(levels) > -40 and min(levels) < -60
    assert any(r.voice for r in beep if (r.rms_dbfs or -200) > -40)
    assert not all(r.voice for r in beep)
    # The moving pattern moves; Chromium's fake camera animates too.
    for stream_id in expected_fps:
        assert statistics.mean(r.motion or 0 for r in collected.of(stream_id, "video")[5:]) > 0


def test_bad_offers_are_refused_and_a_good_peer_still_connects() -> None:
    collected = Collected()

    async def main() -> None:
        ingest = WebRtcIngest(collected, host_addresses=("127.0.0.1",))
        await ingest.start()
        sender = None
        try:
            bad: list[dict[str, Any]] = [
                {"data": b"this is not sdp", "headers": {"Content-Type": "application/json"}},
                {"data": b"", "headers": {"Content-Type": "application/json"}},
                {"json": {"type": "pranswer", "sdp": "v=0\r\n", "stream_id": "bad-1"}},
                {"data": b"v=0\r\n" + b"a=x\r\n" * 40_000,
                 "headers": {"Content-Type": "application/sdp"}, "params": {"stream_id": "b2"}},
                {"json": {"type": "offer", "sdp": "v=0\r\nm=video 9 RTP/AVP 0\r\nbogus\r\n",
                          "stream_id": "bad-3"}},
            ]
            async with aiohttp.ClientSession() as session:
                for kwargs in bad:
                    async with session.post(ingest.url + "/offer", **kwargs) as response:
                        assert response.status == 400, kwargs
                        body = await response.json()
                        assert body["error"]["type"] == "invalid_offer"
            sender = await send(ingest.url, "good-1", video=PatternVideoTrack(fps=30),
                                audio=ToneAudioTrack())
            await collected.wait_for(lambda: len(collected.of("good-1", "video")) >= 30, 15)
        finally:
            if sender is not None:
                await sender.close()
            await ingest.stop()

    asyncio.run(main())
    errors = [r for r in collected.records if r.kind == "status" and r.status == "error"]
    assert [r.stream_id for r in errors] == [REJECTED_STREAM_ID] * 2 + ["bad-1", "b2", "bad-3"]
    assert all(r.error for r in errors)
    assert collected.statuses("good-1")[0] == "connected"
    assert collected.of("good-1", "audio")


def test_chromium_hanging_up_ends_and_vanishing_drops(
        launch_chromium: Callable[[str], subprocess.Popen[bytes]]) -> None:
    """A page that hangs up gives ``ended``; a browser killed mid-stream, ``dropped``."""
    collected = Collected()

    async def main() -> None:
        ingest = WebRtcIngest(collected, host_addresses=("127.0.0.1",), media_timeout=3.0)
        await ingest.start()
        try:
            launch_chromium(f"{ingest.url}/?stream_id=hangs-up&autostart=1&stop_after=4")
            vanishing = launch_chromium(f"{ingest.url}/?stream_id=vanishes&autostart=1")
            await collected.wait_for(lambda: all(
                "connected" in collected.statuses(s) for s in ("hangs-up", "vanishes")), 20)
            await collected.wait_for(lambda: len(collected.of("vanishes", "video")) >= 20, 10)
            os.killpg(vanishing.pid, signal.SIGKILL)
            killed = collected.of("vanishes", "video")[-1].ts
            await collected.wait_for(lambda: not ingest.stream_ids, 15)
        finally:
            await ingest.stop()
        dropped = collected.of("vanishes", "status")[-1]
        assert dropped.status == "dropped" and dropped.error and "no media" in dropped.error
        assert 2.5 <= dropped.ts - killed <= 5.0

    asyncio.run(main())
    assert collected.statuses("hangs-up") == ["connected", "ended"]
    assert collected.statuses("vanishes") == ["connected", "dropped"]
