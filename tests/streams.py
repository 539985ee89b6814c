"""Helpers that turn token-event dicts into the messages a flow source yields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from bytewax.connectors.kafka import KafkaSinkMessage

from midstream.connectors.kafka import RawMessage


def as_messages(events: Sequence[dict[str, Any] | bytes], topic: str = "midstream.llm.tokens"
                ) -> list[RawMessage]:
    """Wrap events (dicts become JSON) as raw Kafka messages with offsets."""
    out = []
    for offset, event in enumerate(events):
        value = event if isinstance(event, bytes) else orjson.dumps(event)
        key = event["stream_id"].encode() if isinstance(event, dict) else None
        out.append(RawMessage(key, value, topic, 0, offset))
    return out


def decoded(messages: list[KafkaSinkMessage[Any, bytes]], topic: str) -> list[dict[str, Any]]:
    """JSON records written to ``topic``."""
    return [orjson.loads(m.value) for m in messages if m.topic == topic]


def token_stream(stream_id: str, pieces: list[str], *, t0: float = 1000.0, itl: float = 0.02,
                 end: bool = True, first_seq: int = 0) -> list[dict[str, Any]]:
    """A simple stream: start, one delta per piece, end."""
    base = {"v": 1, "stream_id": stream_id, "model": "m", "provider": "p"}
    events = [{**base, "seq": first_seq, "ts": t0, "kind": "start"}]
    for i, piece in enumerate(pieces):
        events.append({**base, "seq": first_seq + i + 1, "ts": t0 + 0.2 + i * itl,
                       "kind": "delta", "text": piece})
    if end:
        events.append({**base, "seq": first_seq + len(pieces) + 1,
                       "ts": t0 + 0.2 + len(pieces) * itl, "kind": "end"})
    return events
