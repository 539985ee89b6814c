"""The OpenAI connectors' shared Kafka parts against the real broker."""

from __future__ import annotations

import threading
import time

import orjson
from confluent_kafka import Producer

from midstream.connectors.kafka import ClientSettings, make_producer
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.publisher import TokenPublisher
from midstream.core.events import TokenEvent, control, encode, parse_token_event
from tests.integration.jobs import consume_all


def test_published_tokens_are_valid_contract_v1_events_keyed_by_stream(kafka_brokers,
                                                                        make_topics):
    (topic,) = make_topics("tokens", partitions=2)
    producer = make_producer(ClientSettings(kafka_brokers))
    publisher = TokenPublisher(producer, topic, "chat-7", provider="openai", model="gpt-4o")
    publisher.start()
    for piece in ["Hel", "lo", " jane@exa", "mple.com"]:
        publisher.delta(piece)
    publisher.end(finish_reason="stop", usage={"prompt_tokens": 3, "completion_tokens": 4})
    assert producer.flush(10) == 0
    records = consume_all(kafka_brokers, topic, expect=6)
    events = [parse_token_event(orjson.dumps(r)) for r in records]
    assert all(isinstance(e, TokenEvent) for e in events), events
    assert [(e.seq, e.kind) for e in events] == [
        (0, "start"), (1, "delta"), (2, "delta"), (3, "delta"), (4, "delta"), (5, "end")]
    assert "".join(e.text or "" for e in events) == "Hello jane@example.com"
    assert events[-1].meta == {"finish_reason": "stop",
                               "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    assert publisher.chars == len("Hello jane@example.com") and publisher.dropped == 0


def test_control_follower_hands_live_streams_their_decisions_and_counts_late_ones(
        kafka_brokers, make_topics):
    (topic,) = make_topics("control", partitions=2)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    producer.produce(topic, encode(control(stream_id="old", ts=time.time(), action="stop",
                                           reason="r", at_seq=1)), key=b"old")
    producer.flush(10)
    follower = ControlFollower(kafka_brokers, topic)
    got: list[dict] = []
    arrived = threading.Event()

    def on_decision(record: dict) -> None:
        got.append(record)
        arrived.set()

    follower.register("live", on_decision)
    follower.start()
    try:
        assert follower.ready.wait(30)
        follower.unregister("gone", delivered_chars=120)
        for stream_id, action in [("gone", "redact"), ("stranger", "stop"), ("live", "stop")]:
            producer.produce(topic, encode(control(stream_id=stream_id, ts=time.time(),
                                                   action=action, reason="r", at_seq=2)),
                             key=stream_id.encode())
        # Not v1 control events: skipped and counted, never handed to the live stream.
        producer.produce(topic, b"not json", key=b"live")
        producer.produce(topic, orjson.dumps({"stream_id": "live", "action": "stop"}), key=b"live")
        producer.flush(10)
        assert arrived.wait(30)
        deadline = time.monotonic() + 10
        while follower.late_decisions < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        follower.stop()
    # The decision produced before the follower started is not replayed: it reads from the end.
    assert [(r["stream_id"], r["action"]) for r in got] == [("live", "stop")]
    assert follower.late_decisions == 1 and follower.decisions == 1
    assert got[0]["v"] == 1 and got[0]["reason"] == "r" and "span" not in got[0]
