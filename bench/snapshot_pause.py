"""The pause recovery snapshots cause: decision latency with 10,000 open streams, with and without.

Each variant starts the LLM-stream job (1 worker) on fresh topics that already
hold ``--streams`` open streams (a start and ``--deltas`` deltas each, never an
end, as ``bench.open_streams_rss``), waits until the job has read them all
(``bytewax_kafka_consumer_lag`` back to 0), then offers the decision-latency
load (``bench.decision_latency``: ``--rate`` events/s for ``--seconds``) and
measures decision latency continuously. "recovery" runs ``-r DIR -s 5 -b 30``
(a snapshot every 5 s, so a 30 s run crosses six of them, each with every open
stream's state alive); "no recovery" is the same job without ``-r``. Both run
in the same invocation, one after the other, on the same machine.

    python -m bench.snapshot_pause --streams 10000 --rate 10000 --seconds 30
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np

from bench.common import REPO, broker, fresh_topics, job_env, produce_all
from bench.decision_latency import LatencyConsumer, offer_load, percentiles, wait_until_ready
from bench.soak import consumer_lag
from bench.workload import PIECES, stream_payloads
from midstream.stack.process import free_port


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


def wait_caught_up(metrics_url: str, timeout: float = 300) -> None:
    """Wait until the job reports a consumer lag of 0 on every partition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if consumer_lag(metrics_url) == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the job did not catch up within {timeout:.0f} s")


def measure(brokers: str, *, recovery: bool, streams: int, deltas: int, rate: int,
            seconds: float) -> list[float]:
    """Decision latencies (s) of one variant."""
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
            args = ["-r", directory, "-s", "5", "-b", "30"]
        job = subprocess.Popen([sys.executable, "-m", "bytewax.run",
                                "midstream.flows.llm_stream", *args], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_ready(brokers, topics)
            wait_caught_up(f"http://127.0.0.1:{api_port}/metrics")
            # Only the offered load's decisions: the open streams' came before the clock started.
            decisions = LatencyConsumer(brokers, topics.control, only=b'"stream_id":"bench-')
            offer_load(brokers, topics.tokens, rate, seconds)
            time.sleep(3)
            latencies: list[float] = decisions.finish()
        finally:
            job.terminate()
            job.wait(30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--deltas", type=int, default=20)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    results = {}
    with broker(args.brokers) as brokers:
        for name, recovery in (("no recovery", False), ("recovery -s 5", True)):
            results[name] = measure(brokers, recovery=recovery, streams=args.streams,
                                    deltas=args.deltas, rate=args.rate, seconds=args.seconds)
    print(f"{args.streams} open streams ({args.deltas} deltas each) + {args.rate:,} events/s "
          f"for {args.seconds:.0f} s; decision latency (delta produced -> control consumed):")
    for name, latencies in results.items():
        print(f"  {name:14} {percentiles(latencies)}")
    p99 = float(np.percentile(results["recovery -s 5"], 99)) * 1000
    print(f"target p99 with recovery < 100 ms: {'MET' if p99 < 100 else 'NOT MET'} "
          f"({p99:.1f} ms)")


if __name__ == "__main__":
    main()
