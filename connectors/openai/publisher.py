"""Publishing one LLM stream's tokens to Kafka as contract-v1 token events.

The gateway, the Realtime relay and the SDK tap all turn what they see into the
same events: ``start``, one ``delta`` per piece of text, ``end`` with the finish
reason and usage. Publishing never blocks the stream it observes: messages are
handed to librdkafka's queue, and a full queue drops the event (counted) rather
than delaying the client.

Examples
--------
Without a producer the tap is off, but the publisher still counts what it saw:

>>> publisher = TokenPublisher(None, "midstream.llm.tokens", "chat-1", provider="openai",
...                            model="gpt-4o-mini", clock=lambda: 100.0)
>>> publisher.start()
>>> publisher.delta("Hello")
>>> publisher.delta(" world", logprob=-0.25)
>>> publisher.end(finish_reason="stop", usage={"completion_tokens": 2})
>>> publisher.seq, publisher.deltas, publisher.chars
(3, 2, 11)
>>> publisher.last_event.kind, publisher.last_event.meta["finish_reason"]
('end', 'stop')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import KafkaException, Producer

from midstream.core.events import CONTRACT_VERSION, TokenEvent, encode

log = logging.getLogger(__name__)


class TokenPublisher:
    """Publishes one stream's contract-v1 token events, keyed by the stream id.

    Parameters
    ----------
    producer
        A confluent-kafka producer, or None to count without publishing.
    topic
        The token topic (``Topics.tokens``).
    stream_id
        Becomes the message key and the events' ``stream_id``.
    provider, model
        Copied into every event.
    clock
        Wall-clock time in seconds: the events' ``ts``.
    """

    def __init__(self, producer: Producer | None, topic: str, stream_id: str, *,
                 provider: str, model: str | None, clock: Callable[[], float] = time.time
                 ) -> None:
        self._producer = producer
        self._topic = topic
        self._key = stream_id.encode()
        self.stream_id = stream_id
        self.provider = provider
        self.model = model
        self._clock = clock
        self._next_seq = 0
        self.deltas = 0
        """Delta events published (or counted, without a producer)."""
        self.chars = 0
        """Characters of text published so far: the offsets control spans refer to."""
        self.dropped = 0
        """Events librdkafka refused (queue full or an error): never retried, never blocking."""
        self.last_event: TokenEvent | None = None

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event published (-1 before ``start``)."""
        return self._next_seq - 1

    def start(self, meta: dict[str, Any] | None = None) -> None:
        """Publish the request's start (before the first token)."""
        self._publish("start", "", None, meta)

    def delta(self, text: str, *, logprob: float | None = None,
              meta: dict[str, Any] | None = None) -> None:
        """Publish a piece of text that arrived."""
        self.deltas += 1
        self.chars += len(text)
        self._publish("delta", text, logprob, meta)

    def end(self, *, finish_reason: str | None = None, usage: dict[str, Any] | None = None,
            meta: dict[str, Any] | None = None) -> None:
        """Publish the response's end; ``usage`` as the provider reported it, when it did."""
        extra = dict(meta or {})
        if finish_reason is not None:
            extra["finish_reason"] = finish_reason
        if usage is not None:
            extra["usage"] = usage
        self._publish("end", "", None, extra or None)

    def _publish(self, kind: Literal["start", "delta", "end"], text: str, logprob: float | None,
                 meta: dict[str, Any] | None) -> None:
        event = TokenEvent(v=CONTRACT_VERSION, stream_id=self.stream_id, seq=self._next_seq,
                           ts=self._clock(), kind=kind, text=text, role="assistant",
                           model=self.model, provider=self.provider, logprob=logprob,
                           meta=meta or None)
        self._next_seq += 1
        self.last_event = event
        if self._producer is None:
            return
        try:
            self._producer.produce(self._topic, encode(event), key=self._key)
            self._producer.poll(0)
        except (BufferError, KafkaException, TypeError) as exc:  # TypeError: meta not JSON
            self.dropped += 1
            log.warning("token event for stream %s not published: %s", self.stream_id, exc)
