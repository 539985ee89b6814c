"""Decision latency: from a token event being produced to its control event being consumed.

The job (``midstream.flows.llm_stream``, 1 worker) runs tailing the token topic. A
producer offers a fixed load (default 10,000 events/s) of the benchmark
workload, stamping each event's ``ts`` with the wall-clock time at which it is
handed to the Kafka client. Some streams leak PII or loop, so the job emits
``redact`` and ``stop`` control events whose ``ts`` is the triggering event's;
a consumer measures receive time minus that ``ts``.

The peer, in the same run, is Kafka itself: a plain consumer of the token
topic measures produce-to-consume latency of the same events, the floor any
Kafka-based decision path pays.

    python -m bench.decision_latency --rate 10000 --seconds 20
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.common import REPO, broker, fresh_topics, job_env
from bench.workload import interleaved
from midstream.core.config import Topics

TS_PLACEHOLDER = 1111111111.111111


class LatencyConsumer:
    """In its own process (the GIL of a busy producer would inflate the numbers), reads a topic
    from the start and records receive time minus each record's ``ts``."""

    def __init__(self, brokers: str, topic: str, only: bytes | None = None, *,
                 timed: bool = False) -> None:
        # Spawned, not forked: a fork of a process whose Kafka clients have live threads can
        # deadlock in the child (a soak's consumer hung that way, holding the run for minutes).
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._ready = context.Event()
        self._results: multiprocessing.Queue[list[Any]] = context.Queue()
        self._process = context.Process(
            target=_consume, args=(brokers, topic, only, self._stop, self._ready, self._results,
                                   timed),
            daemon=True)
        self._process.start()
        self._ready.wait(30)

    def finish(self) -> list[Any]:
        """Stop reading and return the latencies, in seconds.

        With ``timed``, each is a (receive wall-clock time, latency) pair, for figures over time.
        """
        self._stop.set()
        latencies = self._results.get(timeout=300)
        self._process.join(10)
        return latencies


def _consume(brokers: str, topic: str, only: bytes | None, stop: Any, ready: Any,
             results: Any, timed: bool = False) -> None:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"lat-{time.time()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5,
                         "auto.offset.reset": "earliest"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    latencies: list[Any] = []
    ready.set()
    while not stop.is_set():
        # A short timeout: consume() waits for a full batch or the timeout, which would
        # otherwise add up to the timeout to every latency.
        for message in consumer.consume(500, 0.001):
            now = time.time()
            value = message.value()
            if message.error() is not None or value is None:
                continue
            if only is not None and only not in value:
                continue
            latency = now - orjson.loads(value)["ts"]
            latencies.append((now, latency) if timed else latency)
    consumer.close()
    results.put(latencies)


def offer_load(brokers: str, topic: str, rate: int, seconds: float) -> int:
    """Produce the workload at ``rate`` events/s, paced every millisecond."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 1})
    # Prepared up front with a fixed-width placeholder for `ts`, so that stamping the send
    # time is a bytes replace: the producer must not eat the CPU the job needs.
    prepared = []
    for key, value in interleaved(int(rate * seconds), concurrent=max(100, rate // 20),
                                  seed=11):
        event = orjson.loads(value)
        event["ts"] = TS_PLACEHOLDER
        prepared.append((key, orjson.dumps(event)))
    placeholder = repr(TS_PLACEHOLDER).encode()
    started = time.perf_counter()
    sent = 0
    for key, value in prepared:
        due = started + sent / rate
        while (now := time.perf_counter()) < due:
            producer.poll(0)
            time.sleep(min(0.0005, due - now))
        stamped = value.replace(placeholder, f"{time.time():.6f}".encode(), 1)
        producer.produce(topic, stamped, key=key)
        sent += 1
        if sent % 100 == 0:
            producer.poll(0)
    producer.flush(30)
    achieved = sent / (time.perf_counter() - started)
    print(f"offered {sent} events at {achieved:,.0f} events/s (target {rate:,})")
    return sent


def wait_until_ready(brokers: str, topics: Topics) -> None:
    """Send one stream and wait for its summary: the job is up and caught up."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"ready-{time.time()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topics.insights])
    producer = Producer({"bootstrap.servers": brokers})
    base = {"v": 1, "stream_id": "warmup", "model": "m", "provider": "p"}
    for seq, kind in enumerate(["start", "delta", "end"]):
        producer.produce(topics.tokens, orjson.dumps({**base, "seq": seq, "ts": time.time(),
                                                      "kind": kind, "text": " hi"}),
                         key=b"warmup")
    producer.flush(10)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                return
    finally:
        consumer.close()
    raise RuntimeError("the job did not answer the warm-up stream within 60 s")


def percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return (f"p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"max {ms.max():6.1f} ms  (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with broker(args.brokers) as brokers:
        topics = fresh_topics(brokers, args.partitions)
        env = job_env(brokers, topics, MIDSTREAM_STALL_SECONDS="5",
                      MIDSTREAM_ABANDON_SECONDS="60")
        job = subprocess.Popen([sys.executable, "-m", "bytewax.run", "midstream.flows.llm_stream"],
                               env=env, cwd=REPO)
        try:
            wait_until_ready(brokers, topics)
            decisions = LatencyConsumer(brokers, topics.control)
            transport = LatencyConsumer(brokers, topics.tokens, only=b'"delta"')
            offer_load(brokers, topics.tokens, args.rate, args.seconds)
            time.sleep(3)
            decided, carried = decisions.finish(), transport.finish()
        finally:
            job.terminate()
            job.wait(30)
        print(f"decision latency (delta produced -> control consumed): {percentiles(decided)}")
        print(f"peer, Kafka alone (delta produced -> delta consumed):  {percentiles(carried)}")
        p99 = float(np.percentile(decided, 99)) * 1000
        floor = float(np.percentile(carried, 99)) * 1000
        print(f"p99 ratio decision/Kafka-alone: {p99 / floor:.2f}; "
              f"target p99 <= 25 ms: {'MET' if p99 <= 25 else 'NOT MET'}")


if __name__ == "__main__":
    main()
