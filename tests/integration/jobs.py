"""Running the LLM-stream job as users do (``python -m bytewax.run``) against the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from midstream.core.config import AnalysisConfig, Topics
from midstream.core.metrics import LlmStreamMetrics
from midstream.flows.llm_stream import build_flow
from midstream.flows.stream_analysis import StreamAnalyzer
from tests.streams import as_messages

REPO = Path(__file__).resolve().parents[2]


def fresh_topics(make_topics: Any, partitions: int = 2) -> Topics:
    """A unique set of MidStream topics on the broker."""
    names = make_topics("tokens", "insights", "control", "feedback", "dlq", "media",
                        partitions=partitions)
    return Topics(*names)


def new_topics(brokers: str, partitions: int = 1) -> Topics:
    """A unique set of MidStream topics, created directly (for module-scoped fixtures)."""
    from midstream.stack import create_topics

    suffix = uuid.uuid4().hex[:12]
    topics = Topics(*(f"{name}-{suffix}" for name in
                      ("tokens", "insights", "control", "feedback", "dlq", "media")))
    create_topics(brokers, topics.all(), partitions)
    return topics


def job_env(brokers: str, topics: Topics, **extra: str) -> dict[str, str]:
    """Environment for a job reading and writing ``topics``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDSTREAM_")}
    return {**env, **topics.to_env(), "MIDSTREAM_BROKERS": brokers, "PYTHONPATH": str(REPO),
            **extra}


def job_command(*bytewax_args: str, flow: str = "midstream.flows.llm_stream") -> list[str]:
    return [sys.executable, "-m", "bytewax.run", flow, *bytewax_args]


def run_job(env: dict[str, str], *bytewax_args: str, timeout: float = 120) -> str:
    """Run the job to the end of its input (``MIDSTREAM_TAIL=false``); return its output."""
    done = subprocess.run(job_command(*bytewax_args), env={**env, "MIDSTREAM_TAIL": "false"},
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def start_job(env: dict[str, str], *bytewax_args: str,
              flow: str = "midstream.flows.llm_stream") -> subprocess.Popen[str]:
    """Start a tailing job in the background; stop it with :func:`stop_job`.

    Its output goes to a temporary file, not a pipe: nobody reads a pipe while the job
    runs, and librdkafka logging every failed reconnect during a broker outage would
    fill it and block the job's threads.
    """
    output = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed by stop_job)
    process = subprocess.Popen(job_command(*bytewax_args, flow=flow), env=env, cwd=REPO,
                               stdout=output, stderr=subprocess.STDOUT, text=True)
    _outputs[process.pid] = output
    return process


_outputs: dict[int, IO[str]] = {}


def stop_job(process: subprocess.Popen[str], timeout: float = 20) -> str:
    """Stop a job by PID (SIGTERM, then SIGKILL); return what it printed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = _outputs.pop(process.pid)
    output.seek(0)
    printed = output.read()
    output.close()
    return printed


def produce(brokers: str, topic: str, events: Iterable[dict[str, Any] | bytes]) -> int:
    """Produce events keyed by stream id (raw bytes go unkeyed); return how many."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5,
                         "message.max.bytes": 4_000_000})
    count = 0
    for event in events:
        if isinstance(event, bytes):
            producer.produce(topic, event)
        else:
            producer.produce(topic, orjson.dumps(event), key=event["stream_id"].encode())
        count += 1
        producer.poll(0)
    assert producer.flush(30) == 0
    return count


def consume_all(brokers: str, topic: str, *, expect: int | None = None,
                timeout: float = 30) -> list[dict[str, Any]]:
    """Every record on ``topic`` from the beginning (waiting for ``expect`` of them)."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"t-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = [TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions]
    consumer.assign(partitions)
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    try:
        while time.monotonic() < deadline:
            if expect is None and _at_end(consumer, partitions, len(records)):
                break
            if expect is not None and len(records) >= expect:
                break
            for message in consumer.consume(500, 0.2):
                value = message.value()
                if message.error() is None and value is not None:
                    records.append(orjson.loads(value))
    finally:
        consumer.close()
    return records


def _at_end(consumer: Consumer, partitions: list[TopicPartition], have: int) -> bool:
    total = 0
    for tp in partitions:
        low, high = consumer.get_watermark_offsets(tp, timeout=5)
        total += high - low
    return have >= total


def reference_results(events: list[dict[str, Any]], config: AnalysisConfig | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Insights and control events, by id, that the same flow gives under bytewax.testing."""
    out: list[Any] = []
    analyzer = StreamAnalyzer.with_defaults(config or AnalysisConfig(),
                                            LlmStreamMetrics(CollectorRegistry()))
    run_main(build_flow(TestingSource(as_messages(events), 50), TestingSink(out),
                        analyzer=analyzer))
    records = (orjson.loads(m.value) for m in out if m.topic != "midstream.dlq")
    return {r["id"]: r for r in records}


@contextmanager
def job_on_fresh_topics(brokers: str, warmup: Sequence[str]) -> Iterator[Topics]:
    """Fresh topics with the real job running on them, warmed up by one stream.

    ``warmup`` are the pieces of a stream that makes the job decide ``stop``: once
    that decision is on the control topic, the job is surely reading and deciding.
    """
    from midstream.connectors.kafka import ClientSettings, make_producer
    from midstream.connectors.openai.publisher import TokenPublisher

    topics = new_topics(brokers)
    job = start_job(job_env(brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest"))
    try:
        producer = make_producer(ClientSettings(brokers))
        warm = TokenPublisher(producer, topics.tokens, "warmup", provider="openai", model="m")
        warm.start()
        for piece in warmup:
            warm.delta(piece)
        warm.end(finish_reason="stop")
        assert producer.flush(10) == 0
        decisions = consume_all(brokers, topics.control, expect=1, timeout=90)
        assert decisions and decisions[0]["action"] == "stop"
        yield topics
    finally:
        output = stop_job(job)
        assert "Traceback" not in output, output
