"""WebRTC glass-to-record latency: a luma flip in the sender until its feature record arrives.

An aiortc sender (its own process) sends 640x480 at 30 fps and flips the whole
picture between black and white every ``--flip-period`` seconds, printing the
wall time at which it made the first frame of each new colour (the "glass"
time: before encoding, packetising, the network, the jitter buffer and
decoding). The ingest decodes, extracts features and emits a record per
frame; the latency of a flip is the arrival time of the first record whose
luma shows the new colour, minus the flip time. Sender, ingest and consumer
share the machine's wall clock.

Side by side in the same run:

* ``kafka``: records go through ``KafkaRecordPublisher`` to a topic, and a
  consumer in this process stamps each on arrival (the path the flow sees);
* ``in-process``: the peer: the same ingest stamping each record as it is
  emitted, so the difference is Kafka's share.

The broker is ``--brokers``, else a running ``python -m midstream.stack up``,
else a private one for the run (bench/common.py).

    python -m bench.webrtc_latency
    python -m bench.webrtc_latency --seconds 20 --brokers 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable

import numpy as np
from confluent_kafka import Consumer

from bench.common import REPO, broker
from connectors.webrtc.server import WebRtcIngest
from midstream.media_events import MediaRecord, parse_media_record
from midstream.stack import create_topics

TARGET_P99_MS = 250.0


class KafkaArrivals(threading.Thread):
    """Consumes the features topic, stamping each video record's arrival."""

    def __init__(self, brokers: str, topic: str,
                 on_record: Callable[[float, MediaRecord], None]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5,
                                  "fetch.min.bytes": 1, "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.on_record = on_record
        self.assigned = threading.Event()
        self._stopping = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                message = self.consumer.poll(0.05)
                if self.consumer.assignment():
                    self.assigned.set()
                if message is None or message.error():
                    continue
                arrived = time.time()
                record = parse_media_record(message.value())
                if isinstance(record, MediaRecord):
                    self.on_record(arrived, record)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def flip_latencies(flips: list[tuple[float, bool]], arrivals: list[tuple[float, float]]
                   ) -> list[float]:
    """Seconds from each flip to the first record after it whose luma shows the new colour.

    >>> flip_latencies([(10.0, True), (10.5, False)],
    ...                [(10.01, 16.0), (10.1, 235.0), (10.2, 235.0), (10.6, 16.0)])
    [0.09999999999999964, 0.09999999999999964]
    """
    latencies = []
    ordered = sorted(arrivals)
    for at, white in flips:
        for arrived, luma in ordered:
            if arrived >= at and (luma > 128) == white:
                latencies.append(arrived - at)
                break
    return latencies


async def run(mode: str, brokers: str | None, *, seconds: float, flip_period: float,
              warmup: float) -> list[float]:
    arrivals: list[tuple[float, float]] = []

    def on_record(arrived: float, record: MediaRecord) -> None:
        if record.kind == "video" and record.luma is not None:
            arrivals.append((arrived, record.luma))

    publisher = consumer = None
    if mode == "kafka":
        from connectors.media.publisher import KafkaRecordPublisher

        assert brokers is not None
        topic = f"bench.media.features.{uuid.uuid4().hex[:8]}"
        create_topics(brokers, [topic], 1)
        consumer = KafkaArrivals(brokers, topic, on_record)
        publisher = KafkaRecordPublisher(brokers, topic)
        await asyncio.to_thread(consumer.assigned.wait, 30)
        emit: Callable[[MediaRecord], None] = publisher
    else:
        def emit(record: MediaRecord) -> None:
            on_record(time.time(), record)

    ingest = WebRtcIngest(emit, host_addresses=("127.0.0.1",))
    await ingest.start()
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.webrtc_peers", "--url", ingest.url,
        "--prefix", f"latency-{mode}", "--flip-period", str(flip_period), "--no-audio",
        "--seconds", str(warmup + seconds + 30), cwd=REPO, stdout=asyncio.subprocess.PIPE)
    flips: list[tuple[float, bool]] = []
    measuring = [False]

    async def read_flips() -> None:
        assert sender.stdout is not None
        async for line in sender.stdout:
            message = json.loads(line)
            if "flip" in message and measuring[0]:
                flips.append((message["flip"], message["white"]))

    reader = asyncio.create_task(read_flips())
    try:
        await asyncio.sleep(warmup)
        measuring[0] = True
        await asyncio.sleep(seconds)
        measuring[0] = False
        await asyncio.sleep(1.0)  # the last flip's record
    finally:
        if sender.returncode is None:
            sender.send_signal(signal.SIGTERM)
        await sender.wait()
        reader.cancel()
        await ingest.stop()
        if publisher is not None:
            publisher.close()
        if consumer is not None:
            consumer.stop()
    latencies = flip_latencies(flips, arrivals)
    if len(latencies) < len(flips):
        print(f"  {mode}: {len(flips) - len(latencies)} of {len(flips)} flips never showed up",
              flush=True)
    return latencies


def _row(mode: str, latencies: list[float]) -> str:
    ms = np.array(latencies) * 1000
    return (f"| {mode} | {len(ms)} | {np.percentile(ms, 50):.0f} | {np.percentile(ms, 90):.0f} "
            f"| {np.percentile(ms, 99):.0f} | {ms.max():.0f} "
            f"| {'yes' if np.percentile(ms, 99) <= TARGET_P99_MS else 'no'} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.webrtc_latency",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", help="Kafka bootstrap servers (default: the local stack's, or "
                                     "a private broker for this run)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured time per mode")
    p.add_argument("--flip-period", type=float, default=0.3)
    p.add_argument("--warmup", type=float, default=3.0)
    args = p.parse_args(argv)
    with broker(args.brokers) as brokers:
        print(f"WebRTC glass-to-record latency: aiortc sender 640x480@30 VP8 (own process), "
              f"flips every {args.flip_period:g} s, {args.seconds:g} s per mode; "
              f"brokers {brokers}", flush=True)
        print("| path | flips | p50 ms | p90 ms | p99 ms | max ms | p99 <= 250 ms |\n"
              "|---|---|---|---|---|---|---|", flush=True)
        for mode in ("kafka", "in-process"):
            latencies = asyncio.run(run(mode, brokers, seconds=args.seconds,
                                        flip_period=args.flip_period, warmup=args.warmup))
            print(_row(mode, latencies), flush=True)


if __name__ == "__main__":
    main()
