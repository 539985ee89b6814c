"""WebRTC ingest concurrency: how many 640x480@30 fps peers before received frames drop.

N aiortc senders (a moving pattern, 640x480 at 30 fps, VP8, plus a 440 Hz Opus
tone) run in their own process and connect over loopback to a
:class:`~midstream.connectors.webrtc.server.WebRtcIngest` in this process. For each N the
received video fps per stream is measured over ``--seconds`` (after
``--warmup``), against the fps each sender actually sent in the same window
(the senders report their counts every second).

Side by side in the same run, each N is measured twice:

* ``features``: the ingest as shipped: decoding plus ``FeatureTap`` (luma,
  motion, fps/jitter per frame; level, VAD, clipping per 20 ms audio window);
  records go to an in-process counter (no Kafka).
* ``decode``: the peer: the same ingest with a tap that only counts the frames
  aiortc decoded, so the difference is the feature extraction's share.

N holds when every stream receives at least 95 % of the frames its sender sent
and the senders kept up 30 fps (past about 12 streams, the one sender process
is what falls behind, and a drop at the senders says nothing about the ingest).
CPU is per process (user + system, 100 % = one core): the ingest's, and the
senders', which encode VP8 on the same machine. On a 2-core box the senders'
encoding competes with the ingest's decoding, so the figures are a lower bound
for an ingest with the machine to itself.

    python -m bench.webrtc_concurrency                  # N = 1, 2, 4, 6, 8
    python -m bench.webrtc_concurrency --streams 1 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import av

from bench.common import REPO
from midstream.connectors.webrtc.server import MediaTap, WebRtcIngest
from midstream.core.media_events import MediaRecord

NOMINAL_FPS = 30.0
HOLD_RATIO = 0.95
_TICKS = os.sysconf("SC_CLK_TCK")


class CountingTap:
    """Counts each decoded video frame's arrival, then hands frames to ``inner`` (if any)."""

    def __init__(self, arrivals: list[float], inner: MediaTap | None) -> None:
        self.arrivals = arrivals
        self.inner = inner

    def video(self, frame: av.VideoFrame) -> None:
        self.arrivals.append(time.time())
        if self.inner is not None:
            self.inner.video(frame)

    def audio(self, frame: av.AudioFrame) -> None:
        if self.inner is not None:
            self.inner.audio(frame)

    def status(self, status: str, *, error: str | None = None,
               meta: dict[str, Any] | None = None) -> None:
        if self.inner is not None:
            self.inner.status(status, error=error, meta=meta)


@dataclass
class Level:
    """One N in one mode."""

    streams: int
    mode: str
    sent_fps: dict[str, float] = field(default_factory=dict)
    received_fps: dict[str, float] = field(default_factory=dict)
    ingest_cpu: float = 0.0
    sender_cpu: float = 0.0
    records: int = 0

    @property
    def worst_ratio(self) -> float:
        return min((self.received_fps.get(s, 0.0) / max(f, 1e-9)
                    for s, f in self.sent_fps.items()), default=0.0)

    @property
    def holds(self) -> bool:
        return len(self.received_fps) == self.streams and self.worst_ratio >= HOLD_RATIO

    @property
    def senders_kept_up(self) -> bool:
        """Every sender sent at least 95 % of 30 fps (else the senders, not the ingest, limit)."""
        return min(self.sent_fps.values(), default=0.0) >= HOLD_RATIO * NOMINAL_FPS


def _process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _rate_between(reports: list[tuple[float, dict[str, int]]], stream_id: str, start: float,
                  end: float) -> float:
    inside = [(t, sent[stream_id]) for t, sent in reports
              if start - 0.6 <= t <= end + 0.6 and stream_id in sent]
    if len(inside) < 2:
        return 0.0
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    return (n1 - n0) / (t1 - t0)


async def measure(streams: int, mode: str, *, warmup: float, seconds: float) -> Level:
    level = Level(streams, mode)
    arrivals: dict[str, list[float]] = {}
    records = [0]

    def emit(record: MediaRecord) -> None:
        records[0] += 1

    def tap_factory(stream_id: str) -> MediaTap:
        inner: MediaTap | None = None
        if mode == "features":
            from midstream.connectors.media.features import FeatureTap

            inner = FeatureTap(stream_id, "webrtc", emit)
        return CountingTap(arrivals.setdefault(stream_id, []), inner)

    ingest = WebRtcIngest(lambda record: None, host_addresses=("127.0.0.1",),
                          tap_factory=tap_factory, max_peers=max(32, streams))
    await ingest.start()
    senders = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.webrtc_peers", "--url", ingest.url,
        "--streams", str(streams), "--prefix", f"{mode}-{streams}", "--seconds",
        str(warmup + seconds + 30), cwd=REPO, stdout=asyncio.subprocess.PIPE)
    reports: list[tuple[float, dict[str, int]]] = []
    ready = asyncio.Event()

    async def read_reports() -> None:
        assert senders.stdout is not None
        async for line in senders.stdout:
            message = json.loads(line)
            if message.get("ready"):
                ready.set()
            elif "frames_sent" in message:
                reports.append((message["t"], message["frames_sent"]))

    reader = asyncio.create_task(read_reports())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(warmup)
        start, cpu_start = time.time(), time.process_time()
        sender_cpu_start = _process_cpu_seconds(senders.pid)
        await asyncio.sleep(seconds)
        end, cpu_end = time.time(), time.process_time()
        sender_cpu_end = _process_cpu_seconds(senders.pid)
        await asyncio.sleep(1.0)  # one more report after the window
    finally:
        if senders.returncode is None:
            senders.send_signal(signal.SIGTERM)
        await senders.wait()
        reader.cancel()
        await ingest.stop()
    elapsed = end - start
    level.ingest_cpu = 100 * (cpu_end - cpu_start) / elapsed
    level.sender_cpu = 100 * (sender_cpu_end - sender_cpu_start) / elapsed
    level.records = records[0]
    stream_ids = [f"{mode}-{streams}-{i}" for i in range(streams)]
    for stream_id in stream_ids:
        level.sent_fps[stream_id] = _rate_between(reports, stream_id, start, end)
        times = arrivals.get(stream_id, [])
        if times:
            level.received_fps[stream_id] = sum(start <= t < end for t in times) / elapsed
    return level


def _row(level: Level) -> str:
    sent = list(level.sent_fps.values())
    got = [level.received_fps.get(s, 0.0) for s in level.sent_fps]
    slow = "" if level.senders_kept_up else " (senders < 30 fps)"
    return (f"| {level.streams} | {level.mode} | {min(sent):.1f} / {sum(sent) / len(sent):.1f} "
            f"| {min(got):.1f} / {sum(got) / len(got):.1f} | {100 * level.worst_ratio:.0f} % "
            f"| {'yes' if level.holds else 'no'}{slow} "
            f"| {level.ingest_cpu:.0f} % "
            f"| {level.ingest_cpu / level.streams:.0f} % | {level.sender_cpu:.0f} % |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.webrtc_concurrency",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    p.add_argument("--warmup", type=float, default=2.5)
    p.add_argument("--modes", nargs="+", default=["features", "decode"],
                   choices=["features", "decode"])
    args = p.parse_args(argv)
    print(f"WebRTC ingest concurrency: {os.cpu_count()} cores, senders 640x480@30 VP8 + Opus "
          f"in one separate process, {args.seconds:g} s per N after {args.warmup:g} s warm-up",
          flush=True)
    header = ("| N | receiver | sent fps/stream (min / mean) | received fps/stream (min / mean) "
              "| worst received/sent | holds (>= 95 %) | ingest CPU | ingest CPU per stream "
              "| senders CPU |\n|---|---|---|---|---|---|---|---|---|")
    print(header, flush=True)
    levels: list[Level] = []
    for streams in args.streams:
        for mode in args.modes:
            level = asyncio.run(measure(streams, mode, warmup=args.warmup,
                                        seconds=args.seconds))
            levels.append(level)
            print(_row(level), flush=True)
    for mode in args.modes:
        held = [lv.streams for lv in levels
                if lv.mode == mode and lv.holds and lv.senders_kept_up]
        best = str(max(held)) if held else "none"
        print(f"{mode}: largest N with every stream >= 95 % of sent fps, senders at 30 fps: "
              f"{best} "
              f"(tried {', '.join(map(str, args.streams))})", flush=True)


if __name__ == "__main__":
    main()
