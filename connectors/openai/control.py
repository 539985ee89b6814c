"""Following the control topic, so that live streams get MidStream's decisions mid-flight.

One :class:`ControlFollower` per process reads ``midstream.control`` from its end
in a background thread and hands each decision to the callback its stream
registered. A decision for a stream that has already ended is *late*: it is
logged with how much of the stream had been delivered, and counted.

Messages are read with the contract's :class:`~midstream.core.contracts.ControlEvent`
schema; one that is not a valid v1 control event is logged with the reason
and skipped (counted in :attr:`ControlFollower.invalid_decisions`), never
handed to a stream. Callbacks get the decision as plain data (the struct's
fields, ``span`` only when present), the shape the gateway and relay read.

Examples
--------
The dispatching part works without Kafka:

>>> from midstream.core.events import control
>>> follower = ControlFollower.__new__(ControlFollower)
>>> follower._init_dispatch()
>>> seen = []
>>> follower.register("chat-1", seen.append)
>>> follower.dispatch(control(stream_id="chat-1", ts=1.0, action="stop", reason="refusal",
...                           at_seq=3))
>>> follower.unregister("chat-1", delivered_chars=42)
>>> follower.dispatch(control(stream_id="chat-1", ts=2.0, action="redact", reason="email",
...                           at_seq=4, span=(0, 5)))
>>> [r["action"] for r in seen], follower.late_decisions
(['stop'], 1)
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaError, TopicPartition

from midstream.connectors.kafka.clients import make_consumer
from midstream.connectors.kafka.settings import ClientSettings, client_settings
from midstream.core.contracts import ControlEvent
from midstream.core.events import Invalid, parse_control_event

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], None]
"""Receives one decision as plain data: a valid v1 control event's fields."""

ENDED_REMEMBERED = 10_000
"""Recently ended streams remembered, to tell a late decision from one for a stranger."""


class ControlFollower:
    """Reads the control topic from its end and dispatches each decision by stream id.

    Parameters
    ----------
    kafka
        Where Kafka is and how to reach it; bootstrap servers alone get their
        librdkafka settings from ``MIDSTREAM_KAFKA_*``, as the job does.
    topic
        The control topic (``Topics.control``).
    """

    def __init__(self, kafka: ClientSettings | str, topic: str) -> None:
        self._init_dispatch()
        self.topic = topic
        self._consumer = make_consumer(client_settings(kafka), {
            # Every follower reads every decision: its own group, no committed offsets.
            "group.id": f"midstream-control-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 10,
        })
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self.ready = threading.Event()
        """Set once the follower is assigned its partitions at their end offsets."""

    def _init_dispatch(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, Callback] = {}
        self._ended: OrderedDict[str, int | None] = OrderedDict()
        self.late_decisions = 0
        """Decisions that arrived after their stream had ended."""
        self.decisions = 0
        """Decisions handed to a live stream."""
        self.invalid_decisions = 0
        """Messages on the control topic that were not valid v1 control events (skipped)."""

    def register(self, stream_id: str, callback: Callback) -> None:
        """Send this stream's decisions to ``callback`` (called from the follower's thread)."""
        with self._lock:
            self._live[stream_id] = callback
            self._ended.pop(stream_id, None)

    def unregister(self, stream_id: str, delivered_chars: int | None = None) -> None:
        """Stop following an ended stream; ``delivered_chars`` is reported if a decision comes too late."""
        with self._lock:
            self._live.pop(stream_id, None)
            self._ended[stream_id] = delivered_chars
            if len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)

    def dispatch(self, event: ControlEvent) -> None:
        """Hand one control event to its live stream, or count it as late."""
        stream_id = event.stream_id
        with self._lock:
            callback = self._live.get(stream_id)
            ended = stream_id in self._ended
            delivered = self._ended.get(stream_id)
        if callback is not None:
            self.decisions += 1
            record: dict[str, Any] = msgspec.to_builtins(event)
            callback(record)
        elif ended:
            self.late_decisions += 1
            log.warning("late %s decision (%s) for stream %s: it had ended, %s characters "
                        "delivered", event.action, event.reason, stream_id,
                        "unknown" if delivered is None else delivered)

    def start(self) -> None:
        """Start following in a background thread; :attr:`ready` tells when it is assigned."""
        if self._thread is not None:
            return
        self._running.set()
        self._consumer.subscribe([self.topic], on_assign=self._at_end)
        self._thread = threading.Thread(target=self._run, name="midstream-control",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._consumer.close()

    def _at_end(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Explicit end offsets, read now: a decision produced after `ready` is never missed.
        for tp in partitions:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            tp.offset = high
        consumer.assign(partitions)
        self.ready.set()

    def _run(self) -> None:
        consumer = self._consumer
        while self._running.is_set():
            message = consumer.poll(0.05)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("control topic: %s", error)
                continue
            event = parse_control_event(message.value())
            if isinstance(event, Invalid):
                self.invalid_decisions += 1
                log.warning("control topic: skipped a message at offset %s (%s: %s)",
                            message.offset(), event.reason, event.error)
                continue
            try:
                self.dispatch(event)
            except Exception:  # a callback's bug must not stop every stream's decisions
                log.exception("control callback failed for stream %s", event.stream_id)
