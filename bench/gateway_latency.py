"""Gateway overhead: latency per chunk, time to first token and concurrent streams, vs direct.

Side by side in one run, the same client reads the same local stand-in
upstream (connectors/openai/standin, OpenAI's wire format) directly and through
the gateway (``midstream gateway``, started as users start it, in its own
process). The stand-in runs in its own process and stamps each chunk with its
send time (``time.monotonic_ns()`` in ``system_fingerprint``; CLOCK_MONOTONIC
is shared by every process on the machine), so each chunk's latency is its
receive time minus its send time. Direct and gateway streams alternate, so
both see the same machine load.

* Latency per chunk: sequential streams of 100 chunks at 200 chunks/s; the
  gateway's added latency is its percentile minus direct's.
* Time to first token: request sent to first content chunk received.
* Concurrency: N streams at once, each 100 chunks at 50 chunks/s; N is held
  when 95 % of streams keep at least 95 % of that rate and the p99 chunk
  latency stays under 50 ms. Direct is measured the same way: it is the
  harness's own ceiling (stand-in + client on the same machine).
* Stop latency (``--stop-streams``, with Kafka): a ``stop`` control record
  produced for a live stream, to the end of that client's response.
* With ``--holdback`` a third variant runs the gateway with the hold-back on
  (``--fail-closed``, bundled rules), and reports its hold episodes.

    python -m bench.gateway_latency --streams 20 --holdback
    python -m bench.gateway_latency --stop-streams 50 --stop-only   # needs Kafka

The peer figure printed for reference is LiteLLM's published proxy overhead
(2 ms median, 8 ms p95); it is not measured here (not installed, and its
numbers come from other hardware).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import orjson

from bench.common import REPO

KEY = "bench-client-key"
UPSTREAM_KEY = "bench-upstream-key"
MESSAGES = [{"role": "user", "content": "hi"}]


def _standin_process(port_out: Any, ready: Any) -> None:
    from aiohttp import web  # noqa: F401  (imported in the child)

    from tests.doubles.openai_upstream.http import Script, StandinUpstream

    pieces = tuple(f" word{i}" for i in range(100))
    scripts = {
        "fast": Script(pieces=pieces, pacing=0.005, stamp=True),
        "paced": Script(pieces=pieces, pacing=0.02, stamp=True),
        "ttft": Script(pieces=(" hello",) * 3, stamp=True),
    }

    async def main() -> None:
        upstream = StandinUpstream(scripts, api_key=UPSTREAM_KEY)
        await upstream.start()
        port_out.value = upstream.port
        ready.set()
        while True:
            upstream.received.clear()  # keep memory flat over a long run
            await asyncio.sleep(1)

    asyncio.run(main())


def start_standin() -> tuple[Any, str]:
    """The stand-in in its own process; returns it and its base URL."""
    context = multiprocessing.get_context("spawn")
    port = context.Value("i", 0)
    ready = context.Event()
    process = context.Process(target=_standin_process, args=(port, ready), daemon=True)
    process.start()
    if not ready.wait(30):
        raise RuntimeError("the stand-in did not start")
    return process, f"http://127.0.0.1:{port.value}/v1"


def start_gateway(upstream: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """``midstream gateway`` in its own process; returns it and its base URL."""
    env = {**os.environ, "MIDSTREAM_GATEWAY_KEYS": KEY, "MIDSTREAM_UPSTREAM_API_KEY":
           UPSTREAM_KEY, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "midstream.cli.main", "gateway", "--listen", "127.0.0.1:0",
         "--upstream", upstream, "--rate", "100000", "--burst", "100000", *extra],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("midstream gateway on "):
        process.kill()
        raise RuntimeError(f"the gateway did not start: {line!r}")
    return process, line.split()[-1]


@dataclass
class StreamResult:
    ttft: float | None = None
    latencies: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)


_STAMP = re.compile(rb'"system_fingerprint":"t(\d+)"')


async def read_stream(session: aiohttp.ClientSession, url: str, key: str, model: str
                      ) -> StreamResult:
    """One streamed chat completion read off the wire; latencies in seconds."""
    result = StreamResult()
    body = {"model": model, "messages": MESSAGES, "stream": True}
    started = time.monotonic_ns()
    async with session.post(url + "/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200, response.status
        buffer = b""
        async for data in response.content.iter_any():
            now = time.monotonic_ns()
            buffer += data
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if b'"content":"' not in frame or b'"content":""' in frame:
                    continue
                stamp = _STAMP.search(frame)
                if stamp is None:
                    continue
                if result.ttft is None:
                    result.ttft = (now - started) / 1e9
                result.latencies.append((now - int(stamp.group(1))) / 1e9)
                result.arrivals.append(now / 1e9)
    return result


def _pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


async def per_chunk(targets: dict[str, tuple[str, str]], streams: int
                    ) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with aiohttp.ClientSession() as session:
        for _ in range(streams):
            for name, (url, key) in targets.items():
                result = await read_stream(session, url, key, "fast")
                out[name].extend(result.latencies[1:])  # the first chunk is the TTFT's
    return out


async def ttft(targets: dict[str, tuple[str, str]], requests: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            for name, (url, key) in targets.items():
                result = await read_stream(session, url, key, "ttft")
                assert result.ttft is not None
                out[name].append(result.ttft)
    return out


async def concurrent(url: str, key: str, n: int) -> tuple[float, float, float]:
    """(5th percentile of per-stream chunk rates, p99 chunk latency, p50 chunk latency)."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results = await asyncio.gather(*(read_stream(session, url, key, "paced")
                                         for _ in range(n)))
    rates = []
    latencies: list[float] = []
    for r in results:
        if len(r.arrivals) > 1:
            rates.append((len(r.arrivals) - 1) / (r.arrivals[-1] - r.arrivals[0]))
        latencies.extend(r.latencies)
    return _pct(rates, 5), _pct(latencies, 99), _pct(latencies, 50)


def holdback_metrics(url: str) -> str:
    """The gateway's hold-back histogram: deltas, mean, and the share held at all."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics") as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("midstream_gateway_holdback_seconds"):
            name, value = line.rsplit(" ", 1)
            samples[name] = samples.get(name, 0.0) + float(value)
    count = sum(v for k, v in samples.items() if k.startswith(
        "midstream_gateway_holdback_seconds_count"))
    total = sum(v for k, v in samples.items() if k.startswith(
        "midstream_gateway_holdback_seconds_sum"))
    zero = sum(v for k, v in samples.items() if 'le="0.0"' in k)
    if not count:
        return "no deltas"
    return (f"{count:.0f} deltas, {100 * (1 - zero / count):.0f} % held at all, mean hold "
            f"{1000 * total / count:.2f} ms per delta")


async def stop_latency(url: str, brokers: str, control_topic: str, streams: int
                       ) -> list[float]:
    """Seconds from producing a ``stop`` control record to the client's stream ending."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 0})
    out: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(streams):
            body = {"model": "paced", "messages": MESSAGES, "stream": True}
            async with session.post(url + "/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {KEY}"}) as response:
                stream_id = response.headers["x-midstream-stream-id"]
                chunks = 0
                sent: int | None = None
                async for data in response.content.iter_any():
                    chunks += data.count(b'"content":"')
                    if sent is None and chunks >= 5:
                        record = {"v": 1, "id": f"{stream_id}/stop/bench/5",
                                  "stream_id": stream_id, "ts": time.time(), "action": "stop",
                                  "reason": "bench", "at_seq": 5}
                        sent = time.monotonic_ns()
                        producer.produce(control_topic, orjson.dumps(record),
                                         key=stream_id.encode())
                        producer.poll(0)
                ended = time.monotonic_ns()
            assert sent is not None and chunks < 100, "the stream was not stopped"
            out.append((ended - sent) / 1e9)
    producer.flush(10)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=20,
                        help="sequential streams per target for the per-chunk latency")
    parser.add_argument("--requests", type=int, default=100, help="TTFT requests per target")
    parser.add_argument("--concurrency", default="50,100,200,400,700,1000",
                        help="concurrent stream counts to try, ascending")
    parser.add_argument("--holdback", action="store_true",
                        help="also measure a gateway with the redaction hold-back on")
    parser.add_argument("--stop-streams", type=int, default=0,
                        help="measure stop latency over this many streams (needs Kafka: the "
                             "local stack's, --brokers, or a private broker)")
    parser.add_argument("--brokers", default=None, help="Kafka for --stop-streams")
    parser.add_argument("--stop-only", action="store_true",
                        help="measure only the stop latency")
    args = parser.parse_args(argv)
    if args.stop_streams:
        run_stop_latency(args.brokers, args.stop_streams)
        if args.stop_only:
            return 0

    standin, direct = start_standin()
    gateway, proxied = start_gateway(direct)
    processes: list[subprocess.Popen[str]] = [gateway]
    targets = {"direct": (direct, UPSTREAM_KEY), "gateway": (proxied, KEY)}
    if args.holdback:
        held_process, held = start_gateway(direct, "--fail-closed", "--decision-timeout", "0.5")
        processes.append(held_process)
        targets["gateway+holdback"] = (held, KEY)
    try:
        print(f"machine: {os.cpu_count()} CPUs; stand-in, gateway and client in separate "
              "processes on 127.0.0.1\n")
        asyncio.run(per_chunk(targets, 2))  # warm-up
        lat = asyncio.run(per_chunk(targets, args.streams))
        base50, base99 = _pct(lat["direct"], 50), _pct(lat["direct"], 99)
        print(f"latency per chunk ({args.streams} streams x 99 chunks at 200/s, each target):")
        print(f"  {'target':18} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10}")
        for name, values in lat.items():
            p50, p99 = _pct(values, 50), _pct(values, 99)
            print(f"  {name:18} {1000 * p50:8.3f} {1000 * p99:8.3f} "
                  f"{1000 * (p50 - base50):10.3f} {1000 * (p99 - base99):10.3f}")
        t = asyncio.run(ttft(targets, args.requests))
        print(f"\ntime to first token ({args.requests} requests each, no upstream delay):")
        d50 = _pct(t["direct"], 50)
        for name, values in t.items():
            p50 = _pct(values, 50)
            print(f"  {name:18} p50 {1000 * p50:7.3f} ms  p99 {1000 * _pct(values, 99):7.3f} ms"
                  f"  added p50 {1000 * (p50 - d50):6.3f} ms  ratio {p50 / d50:5.2f}")
        if args.holdback:
            print(f"\nhold-back ({targets['gateway+holdback'][0]}): "
                  f"{holdback_metrics(targets['gateway+holdback'][0])}")
        print("\nconcurrent streams at 50 chunks/s each (held: p5 rate >= 47.5/s and "
              "p99 latency <= 50 ms):")
        print(f"  {'streams':>7} {'target':8} {'p5 rate/s':>10} {'p50 lat ms':>11} "
              f"{'p99 lat ms':>11}  held")
        best = {"direct": 0, "gateway": 0}
        failed: set[str] = set()
        for n in [int(x) for x in args.concurrency.split(",")]:
            held_any = False
            for name in ("direct", "gateway"):
                url, key = targets[name]
                rate, p99, p50 = asyncio.run(concurrent(url, key, n))
                keeps_up = rate >= 47.5 and p99 <= 0.05
                if keeps_up:
                    held_any = True
                    if name not in failed:  # held at this N and every smaller one
                        best[name] = n
                else:
                    failed.add(name)
                print(f"  {n:7d} {name:8} {rate:10.1f} {1000 * p50:11.2f} {1000 * p99:11.2f}"
                      f"  {'yes' if keeps_up else 'no'}")
            if not held_any:
                break
        print(f"\nheld: direct (the harness's ceiling) {best['direct']} streams, gateway "
              f"{best['gateway']} streams")
        print("peer (published, not measured here): LiteLLM proxy overhead 2 ms median, 8 ms "
              "p95")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        standin.terminate()
        standin.join(10)
    return 0


def run_stop_latency(brokers: str | None, streams: int) -> None:
    """Stop latency with a real broker: control record produced -> client's stream ended."""
    from bench.common import broker, fresh_topics

    with broker(brokers) as kafka:
        topics = fresh_topics(kafka, 1)
        standin, direct = start_standin()
        os.environ.update(topics.to_env())
        gateway, url = start_gateway(direct, "--brokers", kafka)
        try:
            values = asyncio.run(stop_latency(url, kafka, topics.control, streams))
        finally:
            gateway.terminate()
            gateway.wait(10)
            standin.terminate()
            standin.join(10)
    print(f"stop latency ({streams} streams; control record produced -> client's stream "
          f"ended): p50 {1000 * _pct(values, 50):.1f} ms  p99 {1000 * _pct(values, 99):.1f} ms"
          f"  max {1000 * max(values):.1f} ms\n")


if __name__ == "__main__":
    sys.exit(main())
