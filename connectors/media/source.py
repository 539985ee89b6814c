r"""A Bytewax source that runs media ingest in-process and yields its feature records.

Live media cannot be rewound, so this is a ``DynamicSource``: the ingest (a
WebRTC server, RTMP/HLS pullers, a synthetic stream) runs on its own threads
or event loop and ``emit``\ s records into a bounded queue; the source drains
the queue without blocking. When the queue is full, records are dropped and
counted (a stalled flow must not stall the decoders).

The ingest runs on worker 0 only; the flow's ``key_on`` spreads its streams
over every worker. To spread the *decoding* too, run several ingest processes
(``midstream ingest``) that publish to Kafka, and read the features topic.

Examples
--------
>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, run_main
>>> def start(emit):
...     for i in range(3):
...         emit(i)
...     return lambda: None  # nothing to stop; `finished` ends the source
>>> flow = Dataflow("doc")
>>> got = []
>>> op.output("out", op.input("in", flow, IngestSource(start, finished=lambda: True)),
...           TestingSink(got))
>>> run_main(flow)
>>> got
[0, 1, 2]
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import DynamicSource, StatelessSourcePartition

log = logging.getLogger(__name__)

Start = Callable[[Callable[[Any], None]], Callable[[], None]]
"""Starts an ingest that calls ``emit(record)``; returns the function that stops it."""


class RecordQueue:
    """A bounded hand-over from ingest threads to a source partition that never blocks.

    A full queue drops the record and counts it: a live decoder that waited for
    the flow would fall behind its source.
    """

    def __init__(self, capacity: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self.dropped = 0

    def put(self, record: Any) -> None:
        """Queue one record (from any thread), or drop it if the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("media ingest queue full: %d records dropped", self.dropped)

    def take(self, most: int) -> list[Any]:
        """Up to ``most`` queued records, without waiting."""
        out: list[Any] = []
        get = self._queue.get_nowait
        try:
            while len(out) < most:
                out.append(get())
        except queue.Empty:
            pass
        return out

    def next_awake(self) -> datetime | None:
        """When a partition should look again: now if records wait, else in 5 ms."""
        return None if self._queue.qsize() else datetime.now(UTC) + timedelta(milliseconds=5)


class _IngestPartition(StatelessSourcePartition[Any]):
    def __init__(self, start: Start, finished: Callable[[], bool], capacity: int,
                 batch: int) -> None:
        self.records = RecordQueue(capacity)
        self._finished = finished
        self._batch = batch
        self._stop = start(self.records.put)

    def next_batch(self) -> list[Any]:
        out = self.records.take(self._batch)
        if not out and self._finished():
            raise StopIteration
        return out

    def next_awake(self) -> datetime | None:
        return self.records.next_awake()

    def close(self) -> None:
        self._stop()


class _Idle(StatelessSourcePartition[Any]):
    def next_batch(self) -> list[Any]:
        raise StopIteration


class IngestSource(DynamicSource[Any]):
    """Runs ``start(emit)`` on worker 0 and yields what it emits.

    Parameters
    ----------
    start
        Starts the ingest and returns its stop function (called when the flow ends).
    finished
        Tells when a finite ingest (a file, the demo's synthetic stream) is done:
        the source then ends once its queue is empty. Live ingest never finishes.
    capacity
        Records the queue holds before dropping.
    batch
        Most records handed to the flow per batch.
    """

    def __init__(self, start: Start, *, finished: Callable[[], bool] = lambda: False,
                 capacity: int = 100_000, batch: int = 1000) -> None:
        self.start = start
        self.finished = finished
        self.capacity = capacity
        self.batch = batch

    def build(self, step_id: str, worker_index: int,
              worker_count: int) -> StatelessSourcePartition[Any]:
        """Make the partition that runs ingest on worker 0; other workers get an empty one."""
        if worker_index != 0:
            return _Idle()
        return _IngestPartition(self.start, self.finished, self.capacity, self.batch)
