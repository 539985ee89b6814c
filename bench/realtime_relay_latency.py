"""Added latency per frame of the Realtime relay, relayed vs direct to the same local upstream.

A local upstream sends ``--frames`` events 5 ms apart, alternating 100 ms audio
chunks and transcript deltas, each stamped with its send time; the client
measures receive time minus send time, once connected directly (the peer) and
once through the relay, in the same run (after one warm-up round).

    python -m bench.realtime_relay_latency --frames 2000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from midstream.connectors.openai.realtime import RealtimeRelay, RelayConfig, RelayMetrics
from tests.doubles.openai_upstream.realtime import tone


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def upstream(frames: int) -> web.Application:
    audio = base64.b64encode(tone(100, 440, 0.5)).decode()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=16 << 20)
        await ws.prepare(request)
        await ws.receive()  # response.create
        await ws.send_str(json.dumps({"type": "response.created", "event_id": "e0",
                                      "response": {"id": "resp_1", "status": "in_progress"}}))
        for i in range(frames):
            await asyncio.sleep(0.005)
            event: dict[str, object] = {"response_id": "resp_1", "item_id": "item_1",
                                        "output_index": 0, "content_index": 0}
            if i % 2 == 0:
                event.update(type="response.output_audio.delta", delta=audio)
            else:
                event.update(type="response.output_audio_transcript.delta", delta=f" w{i}")
            event["event_id"] = str(time.perf_counter_ns())
            await ws.send_str(json.dumps(event, separators=(",", ":")))
        await ws.send_str(json.dumps({"type": "response.done", "event_id": "end", "response": {
            "id": "resp_1", "status": "completed", "usage": {"output_tokens": frames}}}))
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", handler)
    return app


async def measure(url: str, headers: dict[str, str]) -> dict[str, list[float]]:
    latency: dict[str, list[float]] = {"audio": [], "text": []}
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers=headers, max_msg_size=16 << 20) as ws:
        await ws.send_str('{"type":"response.create"}')
        async for message in ws:
            now = time.perf_counter_ns()
            event = json.loads(message.data)
            if event["type"] == "response.done":
                break
            if event["event_id"].isdigit():
                kind = "audio" if "audio.delta" in event["type"] else "text"
                latency[kind].append((now - int(event["event_id"])) / 1e6)
    return latency


async def run(frames: int) -> None:
    runner = web.AppRunner(upstream(frames))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    direct_url = f"ws://127.0.0.1:{runner.addresses[0][1]}/v1/realtime"
    registry = CollectorRegistry()
    relay = RealtimeRelay(RelayConfig(upstream=direct_url, port=0,
                                      client_keys=frozenset({"bench-key"})),
                          metrics=RelayMetrics(registry), registry=registry)
    relay_url = await relay.start() + "/v1/realtime?model=m"
    try:
        for round_ in range(2):
            direct = await measure(direct_url, {})
            relayed = await measure(relay_url, {"Authorization": "Bearer bench-key"})
            if round_ == 0:
                continue  # warm-up
            for kind, label in (("audio", "100 ms audio"), ("text", "transcript text")):
                d, r = direct[kind], relayed[kind]
                print(f"{label:<16} frames={len(r):5d}  direct p50 {percentile(d, .5):.3f} "
                      f"p99 {percentile(d, .99):.3f} ms  relayed p50 {percentile(r, .5):.3f} "
                      f"p99 {percentile(r, .99):.3f} ms  added p50 "
                      f"{percentile(r, .5) - percentile(d, .5):.3f} ms")
    finally:
        await relay.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.frames))


if __name__ == "__main__":
    main()
