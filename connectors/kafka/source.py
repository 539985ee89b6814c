"""A resumable Kafka source that hands the flow lightweight raw messages.

Why not ``bytewax.connectors.kafka.KafkaSource``: it wraps every message in a
frozen dataclass of eight fields, which costs about 2 µs a message in Python,
a tenth of our per-event budget. This source yields a :class:`RawMessage`
``NamedTuple`` instead, and is otherwise the same design: one Bytewax
partition per Kafka partition, assigned (not group-subscribed), the next
offset as the resume state, so recovery snapshots carry the position and
nothing is committed to Kafka. Consumer errors become messages with
``error`` set, so the flow can dead-letter them instead of crashing.

Consumer lag is exported on Bytewax's own gauge, ``bytewax_kafka_consumer_lag``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from bytewax.connectors.kafka import BYTEWAX_CONSUMER_LAG_GAUGE
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka import KafkaError as ConsumerError

from midstream.connectors.kafka.clients import cluster_metadata, make_consumer
from midstream.connectors.kafka.settings import ClientSettings

IDLE_NAP = timedelta(milliseconds=1)
"""How long a partition with nothing to read waits before polling again (at least)."""


FETCH_WAIT_MS = 5
"""The longest the broker holds a fetch for more data: adds at most this to latency.

Override with ``MIDSTREAM_KAFKA_FETCH_WAIT_MAX_MS`` (and ``MIDSTREAM_KAFKA_FETCH_MIN_BYTES``).
"""


class RawMessage(NamedTuple):
    """One message as read from Kafka; ``error`` is set when the consumer reported one.

    >>> RawMessage(b"k", b"{}", "t", 0, 7).offset
    7
    """

    key: bytes | None
    value: bytes | None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    error: str | None = None


class _TopicPartitionReader(StatefulSourcePartition[RawMessage, int]):
    def __init__(self, step_id: str, kafka: ClientSettings, tuning: dict[str, object],
                 topic: str, partition: int, starting_offset: int, resume_state: int | None,
                 batch_size: int, poll_interval: timedelta) -> None:
        self._offset = starting_offset if resume_state is None else resume_state
        self._topic = topic
        self._partition = partition
        self._batch_size = batch_size
        self._poll_interval = max(poll_interval, IDLE_NAP)
        self._eof = False
        self._awake: datetime | None = None
        self._lag = BYTEWAX_CONSUMER_LAG_GAUGE.labels(step_id=step_id, topic=topic,
                                                       partition=partition)
        consumer = make_consumer(kafka, {**tuning, "stats_cb": self._on_stats})
        consumer.assign([TopicPartition(topic, partition, self._offset)])
        self._consumer = consumer

    def _on_stats(self, stats_json: str) -> None:
        stats = json.loads(stats_json)["topics"][self._topic]["partitions"][str(self._partition)]
        if self._offset >= 0:
            self._lag.set(stats["ls_offset"] - self._offset)

    def next_batch(self) -> list[RawMessage]:
        if self._eof:
            raise StopIteration()
        # Never block: with several partitions per worker, a blocking poll on an idle one
        # delays all the others. When there is nothing, `next_awake` naps briefly instead.
        messages = self._consumer.consume(self._batch_size, 0)
        if len(messages) < self._batch_size:
            # Not a full batch: the partition is drained. Polling again at once would hand
            # Bytewax a stream of tiny batches, and each one costs the stateful step a pass
            # over every open stream's timer; waiting a little gathers them.
            self._awake = datetime.now(UTC) + self._poll_interval
        if not messages:
            return []
        batch: list[RawMessage] = []
        append = batch.append
        topic, partition = self._topic, self._partition
        for m in messages:
            error = m.error()
            if error is None:
                append(RawMessage(m.key(), m.value(), topic, partition, m.offset()))
                continue
            if error.code() == ConsumerError._PARTITION_EOF:
                self._eof = True  # emit this batch; end on the next call
                break
            append(RawMessage(m.key(), m.value(), topic, partition, m.offset(), str(error)))
        if batch:
            last = batch[-1].offset
            if last is not None and last >= 0:
                self._offset = last + 1
        return batch

    def next_awake(self) -> datetime | None:
        awake, self._awake = self._awake, None
        return awake

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._consumer.close()


class TokenTopicSource(FixedPartitionedSource[RawMessage, int]):
    """Every partition of the given topics, read from ``starting_offset`` or the resume point.

    Parameters
    ----------
    kafka
        Bootstrap servers and librdkafka settings (credentials, TLS).
    topics
        Topics to read.
    tail
        Keep waiting for new messages (``True``), or end at the partitions'
        ends as they are when reached (``False``, for backfills and tests).
    starting_offset
        ``OFFSET_BEGINNING`` (-2) or ``OFFSET_END`` (-1), when there is no resume state.
    batch_size
        Most messages handed to the flow per call; large batches are what
        make Bytewax fast.
    poll_interval
        After a partition hands over less than a full batch, it waits this long
        before polling again (at least ``IDLE_NAP``): a bound on the latency it
        adds, and what keeps batches from shrinking to one message. Bytewax's
        stateful step visits the timer of every open stream on each batch it
        gets, so with 10,000 open streams at 2,000 events/s, 2 ms instead of
        1 ms took the job's CPU from 0.8 to 0.6 of a core (``bench.snapshot_pause``).
    """

    def __init__(self, kafka: ClientSettings, topics: Iterable[str], *, tail: bool = True,
                 starting_offset: int = OFFSET_BEGINNING, batch_size: int = 1000,
                 poll_interval: timedelta = timedelta(milliseconds=2)) -> None:
        self.kafka = kafka
        self.topics = list(topics)
        self.tail = tail
        self.starting_offset = starting_offset
        self.batch_size = batch_size
        self.poll_interval = poll_interval

    def list_parts(self) -> list[str]:
        """Name every partition of every topic, as ``<partition>-<topic>``, from the broker's metadata."""
        parts = []
        for topic in self.topics:
            # Fails fast, with a clear message, when the broker refuses the login.
            _, cluster = cluster_metadata(self.kafka, topic, timeout=30)
            metadata = cluster.topics[topic]
            if metadata.error is not None:
                raise RuntimeError(f"cannot read Kafka topic {topic!r}: {metadata.error.str()}")
            parts += [f"{index}-{topic}" for index in sorted(metadata.partitions)]
        return parts

    def build_part(self, step_id: str, for_part: str,
                   resume_state: int | None) -> _TopicPartitionReader:
        """Make the reader of one topic partition, from offset ``resume_state`` when given."""
        index, topic = for_part.split("-", 1)
        tuning: dict[str, object] = {
            "group.id": "midstream-unused",  # positions live in recovery snapshots
            "enable.auto.commit": False,
            "enable.partition.eof": not self.tail,
            "statistics.interval.ms": 1000,
            # Fetch in rounds of up to FETCH_WAIT_MS, not one request per message or two: with
            # data always arriving, `fetch.min.bytes` 1 had the broker answer every fetch at
            # once, and at 12,000 events/s it spent more CPU than the job (bench.soak).
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            "fetch.min.bytes": 1_000_000,
        }
        return _TopicPartitionReader(step_id, self.kafka, tuning, topic, int(index),
                                     self.starting_offset, resume_state, self.batch_size,
                                     self.poll_interval)
