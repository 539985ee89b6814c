"""WebRTC glass-to-record latency: a luma flip in the sender until its feature record arrives.

An aiortc sender (its own process) sends 640x480 at 30 fps and flips the whole
picture between black and white every ``--flip-period`` seconds, printing the
wall time at which it made the first frame of each new colour (the "glass"
time: before encoding, packetising, the network, the jitter buffer and
decoding). Then headless Chromium does the same from a canvas
(``captureStream(30)``, painted at 60 Hz; the glass time is the paint that
first shows the new colour, ``Date.now()``), so the browser's own capture,
encoder pacing and bandwidth estimation are in the figure too.

The ingest decodes, extracts features and emits a record per frame; the
latency of a flip is the arrival time of the first record whose luma shows the
new colour, minus the flip time. Sender, ingest and consumer share the
machine's wall clock. Each run is ``--seconds`` per sender and path (default
20 s, about 65 flips: p99 is then close to the maximum).

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
import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
from aiohttp import web

from bench.common import REPO, broker
from bench.media_common import KafkaArrivals, latency_cells
from midstream.connectors.webrtc.server import WebRtcIngest
from midstream.core.media_events import MediaRecord
from midstream.stack import create_topics
from tests.integration.webrtc_peers import chromium, chromium_available

TARGET_P99_MS = 250.0

# A canvas that flips black/white and sends itself (captureStream) to the ingest; each
# flip's wall time (Date.now(), the paint that first shows the new colour) goes to /flips.
FLIP_PAGE = """<!doctype html><html><body><canvas id="c" width="640" height="480"></canvas>
<script>
"use strict";
const period = Number(new URLSearchParams(location.search).get("period")) * 1000;
const canvas = document.getElementById("c"), g = canvas.getContext("2d");
const start = Date.now();
let white = null;
function paint() {
  const now = Date.now(), next = Math.floor((now - start) / period) % 2 === 1;
  g.fillStyle = next ? "#ffffff" : "#000000";
  g.fillRect(0, 0, 640, 480);
  if (next !== white) {
    white = next;
    fetch("flips", {method: "POST", body: JSON.stringify({flip: now / 1000, white: next})});
  }
}
setInterval(paint, 1000 / 60);
async function go() {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.addTrack(canvas.captureStream(30).getVideoTracks()[0]);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((ok) => { if (pc.iceGatheringState === "complete") ok();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && ok();
    setTimeout(ok, 3000); });
  const r = await fetch("offer", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({type: "offer", sdp: pc.localDescription.sdp,
                          stream_id: "latency-chromium"})});
  await pc.setRemoteDescription(await r.json());
}
go();
</script></body></html>"""


class FlipPageIngest(WebRtcIngest):
    """The ingest plus the canvas flip page (``GET /flip``) and its reports (``POST /flips``)."""

    def __init__(self, *args: object, on_flip: Callable[[float, bool], None],
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.on_flip = on_flip

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/flip", self._flip_page)
        app.router.add_post("/flips", self._flip_report)
        return app

    async def _flip_page(self, request: web.Request) -> web.Response:
        return web.Response(text=FLIP_PAGE, content_type="text/html")

    async def _flip_report(self, request: web.Request) -> web.Response:
        message = json.loads(await request.read())
        self.on_flip(float(message["flip"]), bool(message["white"]))
        return web.Response(status=204)


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


async def run(peer: str, mode: str, brokers: str | None, *, seconds: float,
              flip_period: float, warmup: float) -> list[float]:
    arrivals: list[tuple[float, float]] = []

    def on_record(arrived: float, record: MediaRecord) -> None:
        if record.kind == "video" and record.luma is not None:
            arrivals.append((arrived, record.luma))

    publisher = consumer = None
    if mode == "kafka":
        from midstream.connectors.media.publisher import KafkaRecordPublisher

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

    flips: list[tuple[float, bool]] = []
    measuring = [False]

    def on_flip(at: float, white: bool) -> None:
        if measuring[0]:
            flips.append((at, white))

    ingest = FlipPageIngest(emit, host_addresses=("127.0.0.1",), on_flip=on_flip)
    await ingest.start()
    async with contextlib.AsyncExitStack() as stack:
        if peer == "chromium":
            stack.enter_context(chromium(f"{ingest.url}/flip?period={flip_period}"))
        else:
            sender = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.integration.webrtc_peers", "--url", ingest.url,
                "--prefix", f"latency-{mode}", "--flip-period", str(flip_period),
                "--no-audio", "--seconds", str(warmup + seconds + 30), cwd=REPO,
                stdout=asyncio.subprocess.PIPE)
            stack.push_async_callback(_stop_process, sender)
            stack.enter_context(_reading(sender, on_flip))
        try:
            await asyncio.sleep(warmup)
            measuring[0] = True
            await asyncio.sleep(seconds)
            measuring[0] = False
            await asyncio.sleep(1.0)  # the last flip's record
        finally:
            await ingest.stop()
        if publisher is not None:
            publisher.close()
        if consumer is not None:
            consumer.stop()
    latencies = flip_latencies(flips, arrivals)
    if len(latencies) < len(flips):
        print(f"  {peer}/{mode}: {len(flips) - len(latencies)} of {len(flips)} flips never "
              f"showed up", flush=True)
    return latencies


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await process.wait()


@contextlib.contextmanager
def _reading(sender: asyncio.subprocess.Process, on_flip: Callable[[float, bool], None]
             ) -> Iterator[None]:
    """Feed the aiortc sender's flip lines to ``on_flip`` while the block runs."""
    async def read() -> None:
        assert sender.stdout is not None
        async for line in sender.stdout:
            message = json.loads(line)
            if "flip" in message:
                on_flip(message["flip"], message["white"])

    task = asyncio.get_running_loop().create_task(read())
    try:
        yield
    finally:
        task.cancel()


def _row(peer: str, mode: str, latencies: list[float]) -> str:
    met = bool(latencies) and np.percentile(latencies, 99) * 1000 <= TARGET_P99_MS
    return f"| {peer} | {mode} | {latency_cells(latencies)} | {'yes' if met else 'no'} |"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.webrtc_latency",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", help="Kafka bootstrap servers (default: the local stack's, or "
                                     "a private broker for this run)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured time per mode")
    p.add_argument("--flip-period", type=float, default=0.3)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--no-chromium", action="store_true",
                   help="leave out the headless-Chromium canvas sender")
    args = p.parse_args(argv)
    with broker(args.brokers) as brokers:
        print(f"WebRTC glass-to-record latency: aiortc sender 640x480@30 VP8 (own process), "
              f"flips every {args.flip_period:g} s, {args.seconds:g} s per mode; "
              f"brokers {brokers}", flush=True)
        print("| sender | path | flips | p50 ms | p90 ms | p99 ms | max ms | p99 <= 250 ms |\n"
              "|---|---|---|---|---|---|---|---|", flush=True)
        peers = ["aiortc"] + ([] if args.no_chromium or not chromium_available()
                              else ["chromium"])
        for peer in peers:
            for mode in ("kafka", "in-process"):
                latencies = asyncio.run(run(peer, mode, brokers, seconds=args.seconds,
                                            flip_period=args.flip_period,
                                            warmup=args.warmup))
                print(_row(peer, mode, latencies), flush=True)


if __name__ == "__main__":
    main()
