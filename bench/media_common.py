"""What the media latency benchmarks share: stamping records as they arrive, and the table cells."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import numpy as np
from confluent_kafka import Consumer

from midstream.core.media_events import MediaRecord, parse_media_record


class KafkaArrivals(threading.Thread):
    """Consumes the features topic, stamping each video record's arrival."""

    def __init__(self, brokers: str, topic: str,
                 on_record: Callable[[float, MediaRecord], None]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5,
                                  "fetch.min.bytes": 1, "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.on_record = on_record
        self.assigned = threading.Event()
        self._stopping = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                message = self.consumer.poll(0.05)
                if self.consumer.assignment():
                    self.assigned.set()
                if message is None or message.error():
                    continue
                arrived = time.time()
                record = parse_media_record(message.value())
                if isinstance(record, MediaRecord):
                    self.on_record(arrived, record)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def latency_cells(seconds: list[float]) -> str:
    """``count | p50 | p90 | p99 | max`` in whole milliseconds, dashes when empty.

    >>> latency_cells([0.010, 0.020, 0.030])
    '3 | 20 | 28 | 30 | 30'
    >>> latency_cells([])
    '0 | - | - | - | -'
    """
    if not seconds:
        return "0 | - | - | - | -"
    ms = np.array(seconds) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"{len(ms)} | {p50:.0f} | {p90:.0f} | {p99:.0f} | {ms.max():.0f}"
