"""Real WebRTC peers for tests and benchmarks: headless Chromium, and aiortc senders.

* :func:`chromium` starts Debian's Chromium headless on a page (the ingest's own
  sender page), with fake camera and microphone, and kills its whole process
  group on exit.
* :func:`send` connects one aiortc peer to an ingest and sends generated media:
  :class:`PatternVideoTrack` (a moving test pattern, optionally flipping
  black/white at known wall times) and :class:`ToneAudioTrack` (a sine tone).
* ``python -m tests.integration.webrtc_peers --url URL --streams N`` runs N
  senders in their own process (benchmarks keep their encoding apart from the
  ingest's process). It prints JSON lines: ``{"ready": true}`` once all are
  connected, ``{"t", "frames_sent"}`` every ``--report-every`` seconds, and
  ``{"flip", "white", "stream_id"}`` per black/white flip with ``--flip-period``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from midstream.connectors.webrtc.ice import host_addresses

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
)
VIDEO_CLOCK = 90_000


def chromium_available() -> bool:
    """Tell whether Chromium is installed where the tests expect it."""
    return os.access(CHROMIUM, os.X_OK)


@contextlib.contextmanager
def chromium(url: str, *, fps: int | None = None, log_path: Path | None = None
             ) -> Iterator[subprocess.Popen[bytes]]:
    """Headless Chromium showing ``url`` with fake camera and microphone, until the block ends.

    Chromium runs in its own session (process group): on exit, the whole group gets
    SIGTERM, then SIGKILL, so no renderer or GPU helper is left behind.
    """
    profile = tempfile.mkdtemp(prefix="midstream-chromium-")
    fake = "--use-fake-device-for-media-stream" + (f"=fps={fps}" if fps else "")
    command = [CHROMIUM, *CHROMIUM_FLAGS, fake, f"--user-data-dir={profile}", url]
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process
    finally:
        kill_group(process)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def kill_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM a process started with ``start_new_session=True`` and its group, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; helpers of the group may linger a moment longer. (Killed
        # helpers stay <defunct> until init reaps them: they are no longer running.)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


class PatternVideoTrack(MediaStreamTrack):
    """A moving test pattern, paced in real time; with ``flip_period``, black and white flips.

    Each flip's wall time (the moment the first frame of the new colour is made) is
    passed to ``on_flip(time, white)``.
    """

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, *,
                 flip_period: float | None = None,
                 on_flip: Callable[[float, bool], None] | None = None) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.flip_period = flip_period
        self.on_flip = on_flip
        self._count = 0
        self._start: float | None = None
        self._white: bool | None = None
        ramp = (np.arange(2 * width) * 255 // (2 * width)).astype(np.uint8)
        self._ramp = np.tile(ramp, (height, 1))
        self._chroma = np.full((height // 2, width), 128, np.uint8)
        self.frames_sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._count / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        pts = round(self._count * VIDEO_CLOCK / self.fps)
        self._count += 1
        if self.flip_period:
            white = int((time.monotonic() - self._start) / self.flip_period) % 2 == 1
            luma = np.full((self.height, self.width), 235 if white else 16, np.uint8)
            if white != self._white:
                self._white = white
                if self.on_flip is not None:
                    self.on_flip(time.time(), white)
        else:
            shift = (self._count * 8) % self.width
            luma = self._ramp[:, shift:shift + self.width]
        frame = av.VideoFrame.from_ndarray(np.vstack([luma, self._chroma]), format="yuv420p")
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A sine tone (mono s16, 20 ms frames at 48 kHz), paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3,
                 sample_rate: int = 48_000) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.samples = sample_rate // 50
        self._phase_step = 2 * math.pi * frequency / sample_rate
        self._amplitude = amplitude
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._count * self.samples / self.sample_rate
        if due > now:
            await asyncio.sleep(due - now)
        first = self._count * self.samples
        phase = (np.arange(first, first + self.samples)) * self._phase_step
        samples = (self._amplitude * 32767 * np.sin(phase)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = first
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._count += 1
        return frame


@dataclass
class Sender:
    """One connected aiortc sending peer."""

    stream_id: str
    pc: RTCPeerConnection
    video: PatternVideoTrack | None
    audio: ToneAudioTrack | None

    async def close(self) -> None:
        await self.pc.close()


async def send(url: str, stream_id: str, *, video: PatternVideoTrack | None = None,
               audio: ToneAudioTrack | None = None,
               addresses: Sequence[str] = ("127.0.0.1",)) -> Sender:
    """Connect one aiortc peer sending ``video`` and ``audio`` to the ingest at ``url``.

    The peer offers host candidates on ``addresses`` only (loopback by default), through
    the same :func:`midstream.connectors.webrtc.ice.host_addresses` the ingest uses.
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in (video, audio):
        if track is not None:
            pc.addTrack(track)
    try:
        with host_addresses(addresses):
            await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        body = {"type": "offer", "sdp": pc.localDescription.sdp, "stream_id": stream_id}
        async with aiohttp.ClientSession() as session, \
                session.post(f"{url}/offer", json=body) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"offer refused: {response.status} {answer}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"],
                                                            type=answer["type"]))
    except BaseException:
        await pc.close()
        raise
    return Sender(stream_id, pc, video, audio)


async def _run_senders(args: argparse.Namespace) -> None:
    def on_flip(stream_id: str) -> Callable[[float, bool], None]:
        def report(at: float, white: bool) -> None:
            print(json.dumps({"flip": at, "white": white, "stream_id": stream_id}), flush=True)
        return report

    senders = []
    for i in range(args.streams):
        stream_id = f"{args.prefix}-{i}"
        video = PatternVideoTrack(args.width, args.height, args.fps,
                                  flip_period=args.flip_period, on_flip=on_flip(stream_id))
        audio = None if args.no_audio else ToneAudioTrack()
        senders.append(await send(args.url, stream_id, video=video, audio=audio))
    print(json.dumps({"ready": True}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = loop.time() + args.seconds
    while not stop.is_set() and loop.time() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(args.report_every, deadline - loop.time()))
        sent = {s.stream_id: s.video.frames_sent if s.video else 0 for s in senders}
        print(json.dumps({"t": time.time(), "frames_sent": sent}), flush=True)
    await asyncio.gather(*(s.close() for s in senders))


def main(argv: Sequence[str] | None = None) -> None:
    """Run N aiortc senders against an ingest until ``--seconds`` pass or SIGTERM."""
    p = argparse.ArgumentParser(prog="python -m tests.integration.webrtc_peers")
    p.add_argument("--url", required=True)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--prefix", default="aiortc")
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--flip-period", type=float, default=None)
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--report-every", type=float, default=1.0,
                   help="print the frames sent per stream this often (seconds)")
    asyncio.run(_run_senders(p.parse_args(argv)))


if __name__ == "__main__":
    main()
