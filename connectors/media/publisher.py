"""Publishing media feature records to Kafka, keyed by stream id, without blocking the decoder.

The media connectors call ``emit(record)`` from their decode threads or asyncio
loops. Producing hands the record to librdkafka's queue; when that queue is
full the record is dropped and counted, because a live decoder that waits
falls behind its source, and a dropped feature record costs less than a
stalled stream.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException

from midstream.connectors.kafka.clients import make_producer
from midstream.connectors.kafka.settings import ClientSettings, client_settings
from midstream.core.media_events import MediaRecord, encode_media_record

log = logging.getLogger(__name__)


class KafkaRecordPublisher:
    """A thread-safe ``emit`` callable that produces records to one topic.

    Parameters
    ----------
    kafka
        Where Kafka is and how to reach it; bootstrap servers alone
        (``"host:port[,host:port]"``) get their librdkafka settings from
        ``MIDSTREAM_KAFKA_*``, as the job does.
    topic
        The features topic (``midstream.media.features`` by default in the job).
    """

    def __init__(self, kafka: ClientSettings | str, topic: str) -> None:
        self.topic = topic
        self._producer = make_producer(client_settings(kafka))
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0

    def __call__(self, record: MediaRecord) -> None:
        """Queue one record for Kafka; never blocks."""
        value = encode_media_record(record)
        key = record.stream_id.encode()
        with self._lock:  # counters only: librdkafka's produce is thread-safe itself
            try:
                self._producer.produce(self.topic, value=value, key=key)
                self.sent += 1
            except (BufferError, KafkaException) as exc:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("feature records dropped: %d (%s)", self.dropped, exc)
            self._producer.poll(0)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for queued records to be delivered; returns how many are still queued."""
        return int(self._producer.flush(timeout))

    def close(self) -> None:
        """Deliver what is queued (up to 10 s)."""
        left = self.flush()
        if left:
            log.warning("%d feature records were not delivered before closing", left)
