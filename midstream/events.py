"""Event contract v1: the JSON messages MidStream reads and writes on Kafka.

Every message is one JSON object whose ``"v"`` field carries the contract's
major version. Parsers here never raise on bad input: they return an
:class:`Invalid` with a machine-readable ``reason`` and a human ``error``, and
the flow turns that into a dead letter (see :func:`dead_letter`).

The schema is documented for users in the README ("Event contract v1").

Examples
--------
>>> event = parse_token_event(
...     b'{"v":1,"stream_id":"s1","seq":0,"ts":1.5,"kind":"delta","text":"Hi"}'
... )
>>> event.stream_id, event.seq, event.text
('s1', 0, 'Hi')
>>> bad = parse_token_event(b'{"v":2,"stream_id":"s1"}')
>>> bad.reason
'unsupported_version'
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import orjson

CONTRACT_VERSION = 1
MAX_STREAM_ID_CHARS = 256
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
DEFAULT_DLQ_PAYLOAD_BYTES = 256 * 1024

TokenKind = Literal["start", "delta", "end"]
TOKEN_KINDS: frozenset[str] = frozenset(("start", "delta", "end"))
CONTROL_ACTIONS: frozenset[str] = frozenset(("stop", "redact", "flag"))
SEVERITIES: frozenset[str] = frozenset(("info", "warning", "critical"))


class TokenEvent(NamedTuple):
    """One event of an LLM token stream (topic ``midstream.llm.tokens``).

    A ``NamedTuple`` rather than a dataclass: it is built once per message on
    the hot path, and tuples are the cheapest immutable record Python has.
    """

    stream_id: str
    seq: int
    ts: float
    kind: str
    text: str = ""
    role: str | None = None
    model: str | None = None
    provider: str | None = None
    logprob: float | None = None
    meta: dict[str, Any] | None = None


class FeedbackEvent(NamedTuple):
    """An outcome for a stream, used by learners (topic ``midstream.feedback``)."""

    stream_id: str
    ts: float
    reward: float
    action: str | None = None
    outcome: str | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a message was rejected: ``reason`` is a stable code, ``error`` prose."""

    reason: str
    error: str


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decode_object(payload: bytes | None, max_bytes: int) -> dict[str, Any] | Invalid:
    if payload is None:
        return Invalid("empty", "message has no value (tombstone or null payload)")
    if len(payload) > max_bytes:
        return Invalid("oversize", f"payload is {len(payload)} bytes, limit is {max_bytes}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Invalid("invalid_json", f"not valid UTF-8 JSON: {exc}")
    if not isinstance(obj, dict):
        return Invalid("schema", f"expected a JSON object, got {type(obj).__name__}")
    version = obj.get("v")
    if version != CONTRACT_VERSION:
        if _is_number(version):
            return Invalid(
                "unsupported_version",
                f"contract version {version!r} is not supported (this job reads v1)",
            )
        return Invalid("schema", f"field 'v' must be the integer 1, got {version!r}")
    return obj


def _optional_str(obj: dict[str, Any], name: str) -> str | Invalid | None:
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return value
    return Invalid("schema", f"field {name!r} must be a string or absent")


def parse_token_event(
    payload: bytes | None, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> TokenEvent | Invalid:
    """Parse and validate one token-stream message.

    Returns the event, or an :class:`Invalid` explaining the first problem.

    Examples
    --------
    >>> parse_token_event(b'{"v":1,"stream_id":"s","seq":-1,"ts":0,"kind":"start"}').error
    "field 'seq' must be an integer >= 0"
    >>> parse_token_event(b"\\xff\\xfe").reason
    'invalid_json'
    """
    obj = _decode_object(payload, max_bytes)
    if isinstance(obj, Invalid):
        return obj
    stream_id = obj.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        return Invalid("schema", "field 'stream_id' must be a non-empty string")
    if len(stream_id) > MAX_STREAM_ID_CHARS:
        return Invalid("schema", f"field 'stream_id' is longer than {MAX_STREAM_ID_CHARS}")
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return Invalid("schema", "field 'seq' must be an integer >= 0")
    ts = obj.get("ts")
    if not _is_number(ts) or not math.isfinite(ts):
        return Invalid("schema", "field 'ts' must be a finite number (seconds since the epoch)")
    kind = obj.get("kind")
    if kind not in TOKEN_KINDS:
        return Invalid("schema", f"field 'kind' must be one of start, delta, end; got {kind!r}")
    text = obj.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return Invalid("schema", "field 'text' must be a string")
    if kind == "delta" and "text" not in obj:
        return Invalid("schema", "a 'delta' event needs a 'text' field")
    role = obj.get("role")
    model = obj.get("model")
    provider = obj.get("provider")
    for name, value in (("role", role), ("model", model), ("provider", provider)):
        if value is not None and not isinstance(value, str):
            return Invalid("schema", f"field {name!r} must be a string or absent")
    logprob = obj.get("logprob")
    if logprob is not None and (not _is_number(logprob) or not math.isfinite(logprob)):
        return Invalid("schema", "field 'logprob' must be a finite number or absent")
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, dict):
        return Invalid("schema", "field 'meta' must be an object or absent")
    return TokenEvent(
        stream_id, seq, float(ts), kind, text, role, model, provider, logprob, meta  # type: ignore[arg-type]
    )


def parse_feedback_event(
    payload: bytes | None, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> FeedbackEvent | Invalid:
    """Parse and validate one feedback message.

    Examples
    --------
    >>> parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"reward":0.5}').reward
    0.5
    """
    obj = _decode_object(payload, max_bytes)
    if isinstance(obj, Invalid):
        return obj
    stream_id = obj.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        return Invalid("schema", "field 'stream_id' must be a non-empty string")
    ts = obj.get("ts")
    if not _is_number(ts) or not math.isfinite(ts):
        return Invalid("schema", "field 'ts' must be a finite number")
    reward = obj.get("reward")
    if not _is_number(reward) or not math.isfinite(reward):
        return Invalid("schema", "field 'reward' must be a finite number")
    action = _optional_str(obj, "action")
    outcome = _optional_str(obj, "outcome")
    for value in (action, outcome):
        if isinstance(value, Invalid):
            return value
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, dict):
        return Invalid("schema", "field 'meta' must be an object or absent")
    return FeedbackEvent(stream_id, float(ts), float(reward), action, outcome, meta)  # type: ignore[arg-type]


def insight(
    *,
    stream_id: str,
    ts: float,
    detector: str,
    kind: str,
    severity: str,
    at_seq: int | None,
    detail: dict[str, Any],
    instance: int | None = None,
) -> dict[str, Any]:
    """Build an insight record (topic ``midstream.insights``).

    ``id`` is stable: the same input produces the same id, so consumers can
    de-duplicate the repeats that at-least-once output produces after recovery.
    ``instance`` tells apart several facts of one kind at the same event (two
    emails in one delta): it is appended to the id.

    Examples
    --------
    >>> insight(stream_id="s", ts=1.0, detector="rules", kind="refusal",
    ...         severity="warning", at_seq=7, detail={})["id"]
    's/rules/refusal/7'
    """
    suffix = "" if instance is None else f"/{instance}"
    return {
        "v": CONTRACT_VERSION,
        "id": f"{stream_id}/{detector}/{kind}/{at_seq}{suffix}",
        "stream_id": stream_id,
        "ts": ts,
        "detector": detector,
        "kind": kind,
        "severity": severity,
        "at_seq": at_seq,
        "detail": detail,
    }


def control(
    *,
    stream_id: str,
    ts: float,
    action: str,
    reason: str,
    at_seq: int,
    span: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Build a control record (topic ``midstream.control``).

    ``span`` is ``[start, end)`` in characters of the stream's text so far.

    Examples
    --------
    >>> control(stream_id="s", ts=1.0, action="stop", reason="loop", at_seq=3)["id"]
    's/stop/loop/3'
    """
    suffix = "" if span is None else f"/{span[0]}"
    record: dict[str, Any] = {
        "v": CONTRACT_VERSION,
        "id": f"{stream_id}/{action}/{reason}/{at_seq}{suffix}",
        "stream_id": stream_id,
        "ts": ts,
        "action": action,
        "reason": reason,
        "at_seq": at_seq,
    }
    if span is not None:
        record["span"] = {"start": span[0], "end": span[1]}
    return record


def dead_letter(
    *,
    ts: float,
    source_topic: str | None,
    partition: int | None,
    offset: int | None,
    reason: str,
    error: str,
    payload: bytes | None,
    key: bytes | None = None,
    max_payload_bytes: int = DEFAULT_DLQ_PAYLOAD_BYTES,
) -> dict[str, Any]:
    """Build a dead-letter record (topic ``midstream.dlq``) that keeps the original bytes.

    Payloads longer than ``max_payload_bytes`` are cut to that length (a dead
    letter must itself fit in a Kafka message); the record then says so and
    carries the full payload's size and SHA-256, and ``source_topic``,
    ``partition`` and ``offset`` still point at the untouched original.

    Examples
    --------
    >>> d = dead_letter(ts=0.0, source_topic="t", partition=0, offset=5,
    ...                 reason="invalid_json", error="bad", payload=b"{")
    >>> base64.b64decode(d["payload_b64"]), d["payload_truncated"]
    (b'{', False)
    >>> dead_letter(ts=0.0, source_topic="t", partition=0, offset=6, reason="oversize",
    ...             error="big", payload=b"x" * 10, max_payload_bytes=4)["payload_bytes"]
    10
    """
    body = payload or b""
    truncated = len(body) > max_payload_bytes
    record = {
        "v": CONTRACT_VERSION,
        "ts": ts,
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "error": error,
        "payload_b64": base64.b64encode(body[:max_payload_bytes]).decode("ascii"),
        "payload_bytes": len(body),
        "payload_truncated": truncated,
        "key_b64": None if key is None else base64.b64encode(key[:1024]).decode("ascii"),
    }
    if truncated:
        record["payload_sha256"] = hashlib.sha256(body).hexdigest()
    return record


def encode(record: dict[str, Any]) -> bytes:
    """Serialise a record as compact JSON bytes.

    >>> encode({"v": 1})
    b'{"v":1}'
    """
    return orjson.dumps(record)
