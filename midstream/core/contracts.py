"""Contract v1's output records as frozen structs: insights, control events and dead letters.

The flows build these, :func:`midstream.core.events.encode` writes them and
the ``parse_*`` functions of :mod:`midstream.core.events` read them back, so a
change to the contract is one edit here that mypy then checks everywhere.

The wire stays what v1 always was: fields in the order declared here, a
required field written even when it is ``null`` (``at_seq``, ``key_b64``), an
optional one (``span``, ``payload_sha256``) left out when absent.

Examples
--------
>>> record = ControlEvent(v=1, id="s/stop/loop/3", stream_id="s", ts=1.0, action="stop",
...                       reason="loop", at_seq=3)
>>> msgspec.json.encode(record)
b'{"v":1,"id":"s/stop/loop/3","stream_id":"s","ts":1.0,"action":"stop","reason":"loop","at_seq":3}'
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["ControlAction", "ControlEvent", "DeadLetter", "Insight", "Span"]

ControlAction = Literal["stop", "redact", "flag"]
"""What a control event asks of a live stream (``flag`` is reserved)."""


class Insight(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One fact about one stream (topic ``midstream.insights``).

    ``id`` is stable (``stream/detector/kind/at_seq[/instance]``) so that
    consumers can drop the repeats at-least-once output makes after a recovery.
    """

    v: Literal[1]
    id: str
    stream_id: str
    ts: float
    detector: str
    kind: str
    severity: str
    at_seq: int | None
    detail: dict[str, Any]


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """``[start, end)`` in characters of a stream's text so far."""

    start: int
    end: int


class ControlEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A decision for a live stream (topic ``midstream.control``); ``span`` for redactions."""

    v: Literal[1]
    id: str
    stream_id: str
    ts: float
    action: ControlAction
    reason: str
    at_seq: int
    span: Span | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A message that failed parsing or validation, with its original bytes (``midstream.dlq``).

    ``payload_sha256`` is present only when the payload was cut to fit
    (``payload_truncated``); it is the hash of the whole original payload.
    """

    v: Literal[1]
    ts: float
    source_topic: str | None
    partition: int | None
    offset: int | None
    reason: str
    error: str
    payload_b64: str
    payload_bytes: int
    payload_truncated: bool
    key_b64: str | None
    payload_sha256: str | None = None
