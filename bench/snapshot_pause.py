"""The pause recovery snapshots cause, with 10,000 open streams: decision latency with and without.

Each run starts the LLM-stream job (1 worker) on fresh topics that already
hold ``--streams`` open streams (a start and ``--deltas`` deltas each, never an
end, stamped now), waits until the job has read them all
(``bytewax_kafka_consumer_lag`` back to 0), then offers a probe load
(``bench.decision_latency``'s workload at ``--rate`` events/s for
``--seconds``) and measures the decision latency of the probe streams
continuously. Two scenarios, each without recovery and with ``-r DIR -s 5 -b
30`` (a snapshot every 5 s), in the same invocation:

* ``idle``: the open streams wait (a tool call, a slow user); only the probe
  streams are touched. Bytewax snapshots only the keys touched in an epoch.
* ``all touched``: besides the probe, a toucher sends one delta to every open
  stream in every 5 s epoch (``--streams / 5`` events/s, round robin), so
  each snapshot holds all 10,000 streams: the worst case the issue names.

The same-run peer is the floor Bytewax 0.21 itself puts under any such pause,
measured by ``bench.bytewax_snapshot_floor`` (a bare flow whose keys snapshot
constant bytes of the size our streams pickle to).

    python -m bench.snapshot_pause --streams 10000 --rate 500 --seconds 60
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer

from bench.bytewax_snapshot_floor import floor_pause
from bench.common import REPO, broker, fresh_topics, job_env, produce_all
from bench.decision_latency import LatencyConsumer, offer_load, percentiles, wait_until_ready
from bench.soak import consumer_lag
from bench.workload import PIECES, stream_payloads
from midstream.core import events
from midstream.flows.stream_analysis import StreamAnalyzer
from midstream.stack.process import free_port

EPOCH_SECONDS = 5.0


def open_streams_now(n: int, deltas: int) -> Iterator[tuple[bytes, bytes]]:
    """As ``bench.open_streams_rss.open_streams``, stamped now: live streams, not history."""
    texts = [p for p, _ in PIECES]
    t0 = time.time()
    streams = [(f"open-{i}".encode(),
                stream_payloads(f"open-{i}", (texts[i % len(texts)] * 4)[:deltas], t0, end=False))
               for i in range(n)]
    for position in range(deltas + 1):
        for key, payloads in streams:
            yield key, payloads[position]


def touch_open_streams(brokers: str, topic: str, streams: int, first_seq: int, stop: Any) -> None:
    """Send one delta to every open stream every ``EPOCH_SECONDS``, evenly spread, until ``stop``."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    interval = EPOCH_SECONDS / streams
    started = time.perf_counter()
    sent = 0
    while not stop.is_set():
        due = started + sent * interval
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(min(wait, 0.005))
            continue
        i, round_ = sent % streams, sent // streams
        value = orjson.dumps({"v": 1, "stream_id": f"open-{i}", "seq": first_seq + round_,
                              "ts": time.time(), "kind": "delta", "text": " and"})
        producer.produce(topic, value, key=f"open-{i}".encode())
        sent += 1
        if sent % 200 == 0:
            producer.poll(0)
    producer.flush(30)


def wait_caught_up(metrics_url: str, timeout: float = 300) -> None:
    """Wait until the job reports a consumer lag of 0 on every partition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if consumer_lag(metrics_url) == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the job did not catch up within {timeout:.0f} s")


def measure(brokers: str, *, recovery: bool, touched: bool, streams: int, deltas: int, rate: int,
            seconds: float) -> list[float]:
    """Decision latencies (s) of the probe streams in one run."""
    topics = fresh_topics(brokers, 4)
    produce_all(brokers, topics.tokens, open_streams_now(streams, deltas))
    api_port = free_port()
    env = job_env(brokers, topics, MIDSTREAM_STALL_SECONDS="3600",
                  MIDSTREAM_ABANDON_SECONDS="3600", BYTEWAX_DATAFLOW_API_ENABLED="1",
                  BYTEWAX_DATAFLOW_API_PORT=str(api_port))
    with tempfile.TemporaryDirectory(prefix="midstream-pause-") as directory:
        args: list[str] = []
        if recovery:
            subprocess.run([sys.executable, "-m", "bytewax.recovery", directory, "1"],
                           check=True, cwd=REPO)
            args = ["-r", directory, "-s", str(int(EPOCH_SECONDS)), "-b", "30"]
        job = subprocess.Popen([sys.executable, "-m", "bytewax.run",
                                "midstream.flows.llm_stream", *args], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop = multiprocessing.Event()
        toucher = multiprocessing.Process(
            target=touch_open_streams, args=(brokers, topics.tokens, streams, deltas + 1, stop),
            daemon=True)
        try:
            wait_until_ready(brokers, topics)
            wait_caught_up(f"http://127.0.0.1:{api_port}/metrics")
            # Past the epoch that snapshotted the open streams' first arrival.
            time.sleep(2 * EPOCH_SECONDS)
            if touched:
                toucher.start()
                time.sleep(EPOCH_SECONDS)
            decisions = LatencyConsumer(brokers, topics.control, only=b'"stream_id":"bench-')
            offer_load(brokers, topics.tokens, rate, seconds)
            time.sleep(3)
            latencies: list[float] = decisions.finish()
        finally:
            stop.set()
            if toucher.is_alive():
                toucher.join(30)
            job.terminate()
            job.wait(30)
    return latencies


def pickled_stream_bytes(deltas: int) -> int:
    """Size of one open stream's snapshot after ``deltas`` deltas (the floor's value size)."""
    analyzer = StreamAnalyzer.with_defaults()
    state = analyzer.new_state("open-0")
    t0 = time.time()
    analyzer.on_event(state, events.TokenEvent(v=1, stream_id="open-0", seq=0, ts=t0,
                                               kind="start"), t0)
    for seq, text in enumerate((PIECES[0][0] * 4)[:deltas], start=1):
        event = events.TokenEvent(v=1, stream_id="open-0", seq=seq, ts=t0 + seq * 0.02,
                                  kind="delta", text=text)
        analyzer.on_event(state, event, t0 + seq * 0.02)
    return len(pickle.dumps(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--deltas", type=int, default=20)
    parser.add_argument("--rate", type=int, default=500, help="probe events/s")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    results = {}
    with broker(args.brokers) as brokers:
        for scenario, touched in (("idle", False), ("all touched", True)):
            for name, recovery in (("no recovery", False), ("recovery -s 5", True)):
                results[scenario, name] = measure(
                    brokers, recovery=recovery, touched=touched, streams=args.streams,
                    deltas=args.deltas, rate=args.rate, seconds=args.seconds)
    size = pickled_stream_bytes(args.deltas)
    floor = floor_pause(keys=args.streams, value_bytes=size)
    print(f"{args.streams} open streams ({args.deltas} deltas each); probe {args.rate:,} "
          f"events/s for {args.seconds:.0f} s; decision latency of the probe streams:")
    for (scenario, name), latencies in results.items():
        print(f"  {scenario:12} {name:14} {percentiles(latencies)}")
    for scenario in ("idle", "all touched"):
        p99 = float(np.percentile(results[scenario, "recovery -s 5"], 99)) * 1000
        print(f"target p99 with recovery < 100 ms, {scenario}: "
              f"{'MET' if p99 < 100 else 'NOT MET'} ({p99:.1f} ms)")
    print(f"peer, bare Bytewax 0.21: {args.streams} keys touched per epoch, {size} B snapshot "
          f"each: longest pause {floor * 1000:.0f} ms")


if __name__ == "__main__":
    main()
