"""RTMP glass-to-record latency: a frame leaving ffmpeg's filter graph until its record is in Kafka.

ffmpeg publishes ``testsrc`` 320x240 at 25 fps plus a 440 Hz tone in real time
(``-re``, libx264 ultrafast/zerolatency, GOP 25, AAC) to a private nginx-rtmp.
A ``showinfo`` filter at the end of its video graph logs every frame, with its
index, just before the encoder; this process stamps each log line as it
arrives (the "glass" time of that frame). Everything after it is measured:
encoding, FLV over RTMP to nginx, nginx's relay, PyAV's demuxing and decoding,
the feature extraction and, for the last row, Kafka. Records are matched to
frames by media timestamp (the publisher's AAC priming shifts every timestamp
by a constant, which is estimated and removed). All processes share the
machine's wall clock.

Side by side, from the same publisher in the same run:

* ``PyAV decode only``: the peer: a plain PyAV reader of the same RTMP URL,
  with the same low-latency probe options, stamping each decoded frame;
* ``record made``: the :class:`~midstream.connectors.media.pull.MediaPuller`'s records,
  at the time the feature tap made them (their ``ts``);
* ``record in Kafka``: the same records as a consumer of the features topic
  receives them (``KafkaRecordPublisher``, then a confluent-kafka consumer).

With audio, ffmpeg's muxer holds each video packet until the AAC stream
catches up (about 40 ms here); ``--no-audio`` shows the path without that
publisher-side wait. It is the same for every reader, the peer included.

The broker is ``--brokers``, else a running ``python -m midstream.stack up``,
else a private one for the run (bench/common.py).

    python -m bench.rtmp_latency
    python -m bench.rtmp_latency --seconds 30 --brokers 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable

import av
import numpy as np

from bench.common import broker
from bench.media_common import KafkaArrivals, latency_cells
from midstream.connectors.media.options import PullOptions, container_options
from midstream.connectors.media.publisher import KafkaRecordPublisher
from midstream.connectors.media.pull import MediaPuller
from midstream.core.media_events import MediaRecord
from midstream.stack import create_topics
from midstream.stack.nginx_rtmp import start_nginx_rtmp, stop_nginx_rtmp

TARGET_P99_MS = 500.0
FPS = 25
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bn:\s*(\d+)\s+pts:\s*(\d+)")


class Glass(threading.Thread):
    """Reads ffmpeg's stderr, stamping each ``showinfo`` frame line: frame index -> wall time."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.times: dict[int, float] = {}
        self.start()

    def run(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            now = time.time()
            found = _SHOWINFO.search(raw.decode(errors="replace"))
            if found:
                self.times[int(found.group(1))] = now


def plain_decode(url: str, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """The peer: decode the video with PyAV only, recording ``(wall time, pts)`` per frame."""
    options = container_options("rtmp", PullOptions())
    while not stop.is_set():
        try:
            with av.open(url, options=options, timeout=(5.0, 5.0)) as container:
                if not container.streams.video:
                    continue  # joined too early: reopen (MediaPuller probes longer instead)
                for frame in container.decode(video=0):
                    if frame.time is not None:
                        out.append((time.time(), float(frame.time)))
                    if stop.is_set():
                        return
        except av.FFmpegError:
            time.sleep(0.1)


def frame_index(pts: list[float]) -> Callable[[float], int]:
    """Map media time to the publisher's frame index, removing a constant shift.

    >>> index = frame_index([0.021, 0.061, 0.101])
    >>> index(0.061), index(1.021)
    (1, 25)
    """
    shift = float(np.median([(p * FPS) % 1.0 for p in pts])) / FPS if pts else 0.0
    return lambda p: round((p - shift) * FPS)


def latencies(glass: dict[int, float], seen: list[tuple[float, float]],
              first_frame: int) -> list[float]:
    """Seconds from each frame's glass time to the first time it was seen (frames >= first)."""
    index = frame_index([p for _, p in seen])
    first_seen: dict[int, float] = {}
    for at, pts in seen:
        n = index(pts)
        if n not in first_seen or at < first_seen[n]:
            first_seen[n] = at
    return [first_seen[n] - glass[n] for n in sorted(first_seen)
            if n >= first_frame and n in glass]


def _row(path: str, values: list[float]) -> str:
    return f"| {path} | {latency_cells(values)} |"


def run(brokers: str, *, seconds: float, warmup: float, audio: bool) -> None:
    server = start_nginx_rtmp()
    name = f"bench{uuid.uuid4().hex[:8]}"
    url = server.stream_url(name)
    topic = f"bench.media.features.{uuid.uuid4().hex[:8]}"
    create_topics(brokers, [topic], 1)
    made: list[tuple[float, float]] = []
    in_kafka: list[tuple[float, float]] = []
    decoded: list[tuple[float, float]] = []

    def on_kafka(arrived: float, record: MediaRecord) -> None:
        if record.kind == "video" and record.pts is not None:
            in_kafka.append((arrived, record.pts))
            made.append((record.ts, record.pts))

    consumer = KafkaArrivals(brokers, topic, on_kafka)
    publisher = KafkaRecordPublisher(brokers, topic)
    puller = MediaPuller(url, name, publisher)
    stop_peer = threading.Event()
    peer = threading.Thread(target=plain_decode, args=(url, stop_peer, decoded), daemon=True)
    ffmpeg: subprocess.Popen[bytes] | None = None
    try:
        consumer.assigned.wait(30)
        # Both readers wait on the name before it is published, as a live ingest would.
        puller.start()
        peer.start()
        time.sleep(1.0)
        sound = (["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                  "-c:a", "aac"] if audio else ["-an"])
        ffmpeg = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info",
             "-re", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}",
             *sound, "-t", f"{warmup + seconds + 2:g}", "-vf", "showinfo",
             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", str(FPS), "-pix_fmt", "yuv420p", "-f", "flv", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        glass = Glass(ffmpeg)
        ffmpeg.wait(warmup + seconds + 30)
        time.sleep(1.5)  # the last frames' records
    finally:
        if ffmpeg is not None and ffmpeg.poll() is None:
            ffmpeg.terminate()
            ffmpeg.wait(10)
        stop_peer.set()
        puller.stop(timeout=10)
        publisher.close()
        consumer.stop()
        peer.join(10)
        stop_nginx_rtmp(server)
    first = int(warmup * FPS)
    rows = {
        "PyAV decode only (peer)": latencies(glass.times, decoded, first),
        "MidStream record made (MediaPuller + features)": latencies(glass.times, made, first),
        "MidStream record in Kafka (consumed)": latencies(glass.times, in_kafka, first),
    }
    expected = len([n for n in glass.times if n >= first])
    print("| path | frames | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for path, values in rows.items():
        print(_row(path, values), flush=True)
    kafka = rows["MidStream record in Kafka (consumed)"]
    peer_ms = rows["PyAV decode only (peer)"]
    if kafka and peer_ms:
        added = np.percentile(kafka, 50) - np.percentile(peer_ms, 50)
        print(f"\nfeatures + Kafka add {added * 1000:.0f} ms at p50 over plain PyAV decoding; "
              f"{expected - len(kafka)} of {expected} measured frames had no record in Kafka")
    p99 = float(np.percentile(kafka, 99)) * 1000 if kafka else float("inf")
    verdict = "MET" if p99 <= TARGET_P99_MS and len(kafka) >= 200 else "NOT MET"
    print(f"target p99 <= {TARGET_P99_MS:.0f} ms over >= 200 frames (record in Kafka): "
          f"{verdict} (p99 {p99:.0f} ms, {len(kafka)} frames)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.rtmp_latency",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--brokers", help="Kafka bootstrap servers (default: the local stack's, or "
                                     "a private broker for this run)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds of video")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of video at the start that are not measured")
    p.add_argument("--no-audio", action="store_true", help="publish video only")
    args = p.parse_args(argv)
    with broker(args.brokers) as brokers:
        print(f"RTMP glass-to-record latency: ffmpeg -re testsrc 320x240@{FPS} x264 "
              f"ultrafast/zerolatency{'' if args.no_audio else ' + AAC'} -> nginx-rtmp -> "
              f"MediaPuller (PyAV) -> Kafka; "
              f"{args.seconds:g} s measured after {args.warmup:g} s; brokers {brokers}",
              flush=True)
        run(brokers, seconds=args.seconds, warmup=args.warmup, audio=not args.no_audio)


if __name__ == "__main__":
    main()
