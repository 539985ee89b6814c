"""Shared plumbing of the Kafka-fed flows: keying raw messages by stream, and dead letters.

Producers key messages by stream id (the contract), so the Kafka key is the
routing key and the JSON is parsed only after the exchange, on the worker that
owns the stream. Unkeyed messages are parsed where they arrive to find their
stream; what cannot be parsed becomes a dead letter at once.

Examples
--------
>>> from prometheus_client import CollectorRegistry, Counter
>>> counter = Counter("doc_dead", "doc", ("reason",), registry=CollectorRegistry())
>>> router = Router(DeadLetters("dlq", counter, lambda: 0.0), lambda value: "s1")
>>> router(RawMessage(b"cam-1", b"{}", "t", 0, 5))[0]
'cam-1'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from prometheus_client import Counter

from connectors.kafka import RawMessage
from midstream import events

InMessage = RawMessage | KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[Any, Any]
OutMessage = KafkaSinkMessage[bytes | None, bytes]
Clock = Callable[[], float]
FindStream = Callable[[bytes | None], "str | events.Invalid"]
"""Reads the stream id out of an unkeyed message's value, or says why it cannot."""


Payload = tuple[str, bytes | None, str | None, int | None, int | None, bytes | None]
"""What crosses between workers: (stream key, value, topic, partition, offset, Kafka key).
Plain tuples of bytes and ints pickle ten times faster than a parsed event, and Bytewax
pickles what it exchanges."""


class DeadLetters:
    """Turns rejected input into dead-letter messages for the DLQ topic.

    ``counter`` is a Prometheus counter with a ``reason`` label.
    """

    def __init__(self, topic: str, counter: Counter, clock: Clock) -> None:
        self.topic = topic
        self.counter = counter
        self.clock = clock

    def __call__(self, payload: Payload, reason: str, error: str) -> OutMessage:
        _, value, topic, partition, offset, key = payload
        self.counter.labels(reason).inc()
        record = events.dead_letter(
            ts=self.clock(), source_topic=topic, partition=partition, offset=offset,
            reason=reason, error=error, payload=value, key=key,
        )
        return KafkaSinkMessage(key=key, value=events.encode(record), topic=self.topic)


class Router:
    """Keys each raw message by stream id, without parsing it when it can."""

    def __init__(self, dead_letters: DeadLetters, find_stream: FindStream) -> None:
        self.dead_letters = dead_letters
        self.find_stream = find_stream

    def __call__(self, message: InMessage) -> tuple[str, Payload] | OutMessage:
        if isinstance(message, KafkaError):
            inner = message.msg
            return self.dead_letters(payload_of("", inner), "kafka_error",
                                     f"consumer error: {message.err}")
        if isinstance(message, RawMessage) and message.error is not None:
            return self.dead_letters(payload_of("", message), "kafka_error",
                                     f"consumer error: {message.error}")
        key = message.key
        if isinstance(key, bytes) and key:
            try:
                stream_key = key.decode()
                return stream_key, payload_of(stream_key, message)
            except UnicodeDecodeError:
                pass
        found = self.find_stream(message.value)
        if isinstance(found, events.Invalid):
            return self.dead_letters(payload_of("", message), found.reason, found.error)
        return found, payload_of(found, message)


def payload_of(stream_key: str, message: RawMessage | KafkaSourceMessage[Any, Any]) -> Payload:
    """The exchangeable tuple of a raw message."""
    value = message.value if isinstance(message.value, bytes) else None
    key = message.key if isinstance(message.key, bytes) else None
    return stream_key, value, message.topic, message.partition, message.offset, key


def dead_letter_key(message: object) -> str:
    """All dead letters share one key: their order is kept, and one worker writes them."""
    return "dead-letters"


@functools.lru_cache(maxsize=8192)
def timer_datetime(due: float) -> datetime:
    """Timer deadlines rounded up to 10 ms share one datetime object: called per key per batch."""
    return datetime.fromtimestamp(due, UTC)
