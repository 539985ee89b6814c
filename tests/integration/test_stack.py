"""Integration tests of the local stack (midstream/stack): a real broker and a real Prometheus."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient

from midstream.stack import StackError, create_topics, query, query_until, render_config


def consume(brokers: str, topic: str, count: int, *, timeout: float = 30.0) -> list[Message]:
    """Read ``count`` messages from the start of ``topic`` with a fresh consumer group."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    assert len(messages) == count, f"got {len(messages)} of {count} messages from {topic}"
    return messages


def test_confluent_kafka_round_trip(
    kafka_brokers: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("roundtrip")
    producer = Producer({"bootstrap.servers": kafka_brokers})
    producer.produce(topic, key=b"s1", value=b'{"v":1}', headers=[("h", b"x")])
    assert producer.flush(10) == 0

    (message,) = consume(kafka_brokers, topic, 1)
    assert (message.key(), message.value(), message.headers()) == (b"s1", b'{"v":1}', [("h", b"x")])


def test_kcat_producer_is_read_by_confluent_kafka(
    kafka_brokers: str, make_topics: Callable[..., list[str]], kcat: str
) -> None:
    (topic,) = make_topics("kcat", partitions=2)
    subprocess.run(
        [kcat, "-b", kafka_brokers, "-t", topic, "-P", "-K", ":"],
        input=b"s1:first\ns2:second\n",
        check=True,
        timeout=30,
    )

    messages = consume(kafka_brokers, topic, 2)
    assert sorted((m.key(), m.value()) for m in messages) == [
        (b"s1", b"first"),
        (b"s2", b"second"),
    ]


def test_broker_accepts_messages_up_to_two_megabytes(
    kafka_brokers: str, make_topics: Callable[..., list[str]]
) -> None:
    # The application rejects oversize events itself, so the broker must let them through.
    (topic,) = make_topics("big")
    payload = b"x" * (2 * 1024 * 1024 - 1024)
    producer = Producer({"bootstrap.servers": kafka_brokers, "message.max.bytes": 3_000_000})
    producer.produce(topic, key=b"s1", value=payload)
    assert producer.flush(10) == 0

    (message,) = consume(kafka_brokers, topic, 1)
    assert message.value() == payload


def test_create_topics_is_idempotent(
    kafka_brokers: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("twice", partitions=3)
    create_topics(kafka_brokers, [topic], partitions=3)

    metadata = AdminClient({"bootstrap.servers": kafka_brokers}).list_topics(topic, timeout=10)
    assert len(metadata.topics[topic].partitions) == 3


def test_topics_are_not_created_implicitly(kafka_brokers: str) -> None:
    topic = f"never-created-{uuid.uuid4().hex[:12]}"
    producer = Producer({"bootstrap.servers": kafka_brokers, "message.timeout.ms": 3000})
    errors: list[object] = []
    producer.produce(topic, value=b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)

    assert errors and errors[0] is not None
    metadata = AdminClient({"bootstrap.servers": kafka_brokers}).list_topics(timeout=10)
    assert topic not in metadata.topics


def test_prometheus_answers_queries(prometheus_url: str) -> None:
    # `up` has one series per scrape target once the first scrape has happened.
    series = query_until(prometheus_url, "up", timeout=30)
    assert {s["metric"]["job"] for s in series} == {"midstream"}
    assert query(prometheus_url, "1 + 1")[1] == "2"


def test_prometheus_reports_a_bad_query(prometheus_url: str) -> None:
    with pytest.raises(StackError, match="rejected"):
        query(prometheus_url, "up{")


def test_promtool_accepts_the_generated_config(tmp_path: Path, promtool: str) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(["127.0.0.1:3030", "localhost:9464"], scrape_interval="2s"))

    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_cluster_id_starting_with_a_dash_still_formats(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """1 in 64 random ids start with '-': the storage tool must not read it as an option."""
    import midstream.stack.kafka as kafka

    fresh = kafka.new_cluster_id
    monkeypatch.setattr(kafka, "new_cluster_id", lambda: "-" + fresh()[1:])
    broker = kafka.start_kafka(port=0, work_dir=tmp_path / "kafka")
    try:
        assert broker.cluster_id.startswith("-")
        metadata = AdminClient({"bootstrap.servers": broker.brokers}).list_topics(timeout=10)
        assert metadata.cluster_id == broker.cluster_id
    finally:
        kafka.stop_kafka(broker)
