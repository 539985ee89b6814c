"""A Kafka sink that never blocks the dataflow on a round trip, yet stays at-least-once.

Bytewax's ``KafkaSink`` flushes the producer after every batch: each output
batch stalls the worker for a broker acknowledgement, which showed up as tens
of milliseconds of decision latency. This sink hands messages to the producer
and returns; it flushes only when Bytewax snapshots the epoch
(:meth:`~bytewax.outputs.StatefulSinkPartition.snapshot`), so everything
written before a recovery snapshot is acknowledged by Kafka before the
snapshot counts. That is the same at-least-once guarantee, paid once per
epoch instead of once per batch.

Items are ``(key, KafkaSinkMessage)`` pairs. The key (the stream id) picks
one of ``partitions`` sink partitions, so each stream's messages keep their
order. All partitions on a process share one idempotent producer.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from midstream.connectors.kafka.clients import make_producer
from midstream.connectors.kafka.settings import ClientSettings
from midstream.core.metrics import KAFKA_OUTPUT_ERRORS

log = logging.getLogger(__name__)

SINK_PRODUCER: Mapping[str, Any] = {
    "linger.ms": "1",
    # Keeps each stream's messages in order even when a send is retried.
    "enable.idempotence": "true",
}

Item = KafkaSinkMessage[bytes | None, bytes]

_producers: dict[ClientSettings, Producer] = {}
_producers_lock = threading.Lock()


def _on_delivery(error: KafkaError | None, message: Message) -> None:
    if error is not None:
        KAFKA_OUTPUT_ERRORS.labels(message.topic() or "").inc()
        log.error("Kafka rejected an output message for %s: %s", message.topic(), error)


def shared_producer(kafka: ClientSettings) -> Producer:
    """One producer per process and cluster."""
    with _producers_lock:
        producer = _producers.get(kafka)
        if producer is None:
            producer = _producers[kafka] = make_producer(kafka, SINK_PRODUCER)
        return producer


class _ProducerPartition(StatefulSinkPartition[Item, None]):
    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def write_batch(self, values: list[Item]) -> None:
        producer = self._producer
        for message in values:
            if message.topic is None:
                raise ValueError("KafkaOutput needs every message to name its topic")
            while True:
                try:
                    producer.produce(message.topic, message.value, message.key,
                                     on_delivery=_on_delivery)
                    break
                except BufferError:
                    producer.poll(0.01)  # the local queue is full: let deliveries drain it
        producer.poll(0)

    def snapshot(self) -> None:
        # The epoch is being committed: make sure Kafka has everything written so far.
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()


class KafkaOutput(FixedPartitionedSink[Item, None]):
    """Write ``(key, KafkaSinkMessage)`` items to the topic each message names.

    Parameters
    ----------
    kafka
        Bootstrap servers and librdkafka settings (credentials, TLS).
    partitions
        Sink partitions spread over the workers; more than workers keeps the load even.

    Examples
    --------
    >>> sink = KafkaOutput(ClientSettings("127.0.0.1:9092"), partitions=4)
    >>> sink.list_parts()
    ['out-0', 'out-1', 'out-2', 'out-3']
    >>> sink.part_fn("stream-1") == sink.part_fn("stream-1")
    True
    """

    def __init__(self, kafka: ClientSettings, *, partitions: int = 16) -> None:
        self.kafka = kafka
        self.partitions = partitions

    def list_parts(self) -> list[str]:
        """Name the sink's ``partitions`` producer partitions."""
        return [f"out-{i}" for i in range(self.partitions)]

    def part_fn(self, item_key: str) -> int:
        """Route an item key to a partition by its CRC-32 (stable across processes)."""
        return zlib.crc32(item_key.encode())

    def build_part(self, step_id: str, for_part: str,
                   resume_state: None) -> _ProducerPartition:
        """Make a partition that writes through the process's shared producer."""
        return _ProducerPartition(shared_producer(self.kafka))
