"""Event contract v1: the JSON messages MidStream reads and writes on Kafka.

Every message is one JSON object whose ``"v"`` field carries the contract's
major version. Parsers here never raise on bad input, however hostile: they
return an :class:`Invalid` with a machine-readable ``reason`` and a human
``error``, and the flow turns that into a dead letter (see :func:`dead_letter`).
Every kind of message is a frozen msgspec struct, read with a schema and
written by :func:`encode`: token and feedback events here, insights, control
events and dead letters in :mod:`midstream.core.contracts`.

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
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import orjson

from midstream.core.contracts import ControlAction, ControlEvent, DeadLetter, Insight, Span

CONTRACT_VERSION: Literal[1] = 1
MAX_STREAM_ID_CHARS = 256
MAX_DECISION_ID_CHARS = 256
MAX_OUTCOME_CHARS = 256
"""A feedback ``outcome`` is any string up to this long: v1 accepted any string, so
the contract only bounds it; the reward map says what a term means."""
MAX_INT = 2**63 - 1
"""Integers in messages are 64-bit: JSON allows any size, but Kafka consumers, orjson and
NumPy do not, and a bigger one would fail later, inside the analysis, instead of at the door."""
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
DEFAULT_DLQ_PAYLOAD_BYTES = 256 * 1024


class TokenEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One event of an LLM token stream (topic ``midstream.llm.tokens``).

    A msgspec ``Struct``: decoding and validating JSON straight into it runs in
    C (about 0.4 µs a message, five times faster than checking a dict in
    Python), and it pickles for Bytewax. Unknown fields are ignored, so v1
    producers may add fields without breaking this job.
    """

    v: Literal[1]
    stream_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STREAM_ID_CHARS)]
    seq: Seq
    ts: float
    kind: Literal["start", "delta", "end"]
    text: str | None = None
    role: str | None = None
    model: str | None = None
    provider: str | None = None
    logprob: float | None = None
    meta: dict[str, Any] | None = None


class FeedbackEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """An outcome for a stream, used by learners (topic ``midstream.feedback``).

    A message carries a ``reward``, an ``outcome`` or both (:func:`parse_feedback_event`
    rejects one with neither as ``no_outcome``). ``outcome`` is a term such as
    ``thumbs_down`` (vocabulary and reward map: :mod:`midstream.core.outcomes`), at most
    :data:`MAX_OUTCOME_CHARS` characters; a term the reward map does not name is
    unknown to learners unless the message also carries a ``reward``.
    ``decision_id`` names the decision of the stream the feedback is about, for
    learners that join feedback to a decision log. Like every float of the
    contract, ``reward`` is finite: JSON has no NaN or infinity, and msgspec
    rejects a number past the float range (``1e999``) as a ``schema`` error.
    Optional fields are written only when present.
    """

    v: Literal[1]
    stream_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STREAM_ID_CHARS)]
    decision_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DECISION_ID_CHARS)
                           ] | None = None
    ts: float
    reward: float | None = None
    action: str | None = None
    outcome: Annotated[str, msgspec.Meta(max_length=MAX_OUTCOME_CHARS)] | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a message was rejected: ``reason`` is a stable code, ``error`` prose."""

    reason: str
    error: str


NO_OUTCOME = Invalid("no_outcome", "a feedback event needs a 'reward' (a number) or an "
                                   "'outcome' (a term such as 'thumbs_up'), or both")


class _Versioned(msgspec.Struct):
    # Only the version, kept raw: decoding it cannot recurse, whatever it holds.
    v: msgspec.Raw = msgspec.Raw(b"null")


_TOKEN_DECODER = msgspec.json.Decoder(TokenEvent)
_FEEDBACK_DECODER = msgspec.json.Decoder(FeedbackEvent)
_INSIGHT_DECODER = msgspec.json.Decoder(Insight)
_CONTROL_DECODER = msgspec.json.Decoder(ControlEvent)
_DEAD_LETTER_DECODER = msgspec.json.Decoder(DeadLetter)
_VERSION_DECODER = msgspec.json.Decoder(_Versioned)
_NUMBER_DECODER = msgspec.json.Decoder(int | float)
TOO_DEEP = "JSON nested too deeply to decode"
_JSON_TYPE = re.compile(r"^Expected `object`, got `(\w+)`$")
_PYTHON_NAMES = {"array": "list", "null": "NoneType"}

E = TypeVar("E", bound=msgspec.Struct)


def decode_checked(decoder: msgspec.json.Decoder[E], payload: bytes | None,
                   max_bytes: int) -> E | Invalid:
    """Decode one message into ``decoder``'s type, or say why not (every contract's parser).

    Never raises: msgspec recurses on nested JSON (inside ``Any`` fields and
    while skipping unknown ones), so deeply nested input is a ``schema`` error.

    Examples
    --------
    >>> nested = b'{"v":1,"meta":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    >>> decode_checked(_TOKEN_DECODER, nested, 10**6).error
    'JSON nested too deeply to decode'
    """
    if payload is None:
        return Invalid("empty", "message has no value (tombstone or null payload)")
    if len(payload) > max_bytes:
        return Invalid("oversize", f"payload is {len(payload)} bytes, limit is {max_bytes}")
    try:
        return decoder.decode(payload)
    except RecursionError:
        return Invalid("schema", TOO_DEEP)
    except msgspec.DecodeError as exc:
        if not isinstance(exc, msgspec.ValidationError):
            return Invalid("invalid_json", f"not valid UTF-8 JSON: {exc}")
        return _explain(payload, exc)


def _explain(payload: bytes, exc: msgspec.ValidationError) -> Invalid:
    """Tell a future contract version apart from a broken v1 message."""
    try:
        version = _NUMBER_DECODER.decode(_VERSION_DECODER.decode(payload).v)
    except msgspec.ValidationError as not_object:
        got = _JSON_TYPE.search(str(not_object))
        if got is not None:
            name = _PYTHON_NAMES.get(got.group(1), got.group(1))
            return Invalid("schema", f"expected a JSON object, got {name}")
        return Invalid("schema", str(exc))
    except (msgspec.DecodeError, RecursionError):
        return Invalid("schema", str(exc))
    if version != 1:
        return Invalid("unsupported_version",
                       f"contract version {version!r} is not supported (this job reads v1)")
    return Invalid("schema", str(exc))


def parse_token_event(
    payload: bytes | None, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> TokenEvent | Invalid:
    r"""Parse and validate one token-stream message.

    Returns the event, or an :class:`Invalid` explaining the first problem.

    Examples
    --------
    >>> parse_token_event(b'{"v":1,"stream_id":"s","seq":-1,"ts":0,"kind":"start"}').error
    'Expected `int` >= 0 - at `$.seq`'
    >>> parse_token_event(b"\xff\xfe").reason
    'invalid_json'
    """
    event = decode_checked(_TOKEN_DECODER, payload, max_bytes)
    if isinstance(event, TokenEvent) and event.kind == "delta" and event.text is None:
        return Invalid("schema", "a 'delta' event needs a string 'text' field")
    return event


def parse_feedback_event(
    payload: bytes | None, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> FeedbackEvent | Invalid:
    """Parse and validate one feedback message.

    Besides the schema, a message needs a ``reward`` or an ``outcome``: one
    with neither is ``Invalid`` with reason ``no_outcome``. Whether the
    outcome is a known term is for the reward map to say
    (:func:`midstream.core.outcomes.resolve_feedback`), not the contract.

    Examples
    --------
    >>> parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"reward":0.5}').reward
    0.5
    >>> parse_feedback_event(b'{"v":1,"stream_id":"s","decision_id":"d1","ts":1,'
    ...                      b'"outcome":"thumbs_down"}').outcome
    'thumbs_down'
    >>> parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1}').reason
    'no_outcome'
    >>> parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"outcome":"Thumbs Up"}').outcome
    'Thumbs Up'
    """
    event = decode_checked(_FEEDBACK_DECODER, payload, max_bytes)
    if isinstance(event, FeedbackEvent) and event.reward is None and event.outcome is None:
        return NO_OUTCOME
    return event


def parse_insight(payload: bytes | None, *,
                  max_bytes: int = DEFAULT_DLQ_PAYLOAD_BYTES) -> Insight | Invalid:
    """Parse one insight message (what the flows write to ``midstream.insights``).

    Examples
    --------
    >>> parse_insight(encode(insight(stream_id="s", ts=1.0, detector="rules", kind="refusal",
    ...                              severity="warning", at_seq=7, detail={}))).id
    's/rules/refusal/7'
    """
    return decode_checked(_INSIGHT_DECODER, payload, max_bytes)


def parse_control_event(payload: bytes | None, *,
                        max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> ControlEvent | Invalid:
    """Parse one control message (``midstream.control``).

    Examples
    --------
    >>> parse_control_event(b'{"v":1,"id":"s/stop/x/1","stream_id":"s","ts":1,'
    ...                     b'"action":"stop","reason":"x","at_seq":1}').action
    'stop'
    >>> parse_control_event(b'{"v":1,"stream_id":"s","action":"explode"}').reason
    'schema'
    """
    return decode_checked(_CONTROL_DECODER, payload, max_bytes)


def parse_dead_letter(payload: bytes | None, *,
                      max_bytes: int = 2 * DEFAULT_DLQ_PAYLOAD_BYTES) -> DeadLetter | Invalid:
    """Parse one dead letter (``midstream.dlq``); base64 makes them larger than their payload.

    Examples
    --------
    >>> letter = dead_letter(ts=0.0, source_topic="t", partition=0, offset=5,
    ...                      reason="invalid_json", error="bad", payload=b"{")
    >>> parse_dead_letter(encode(letter)) == letter
    True
    """
    return decode_checked(_DEAD_LETTER_DECODER, payload, max_bytes)


def insight(
    *,
    stream_id: str,
    ts: float,
    detector: str,
    kind: str,
    severity: str,
    at_seq: int | None,
    detail: dict[str, Any],
    instance: int | str | None = None,
) -> Insight:
    """Build an insight record (topic ``midstream.insights``).

    ``id`` is stable: the same input produces the same id, so consumers can
    de-duplicate the repeats that at-least-once output produces after recovery.
    ``instance`` tells apart several facts of one kind at the same event (two
    emails in one delta, or the same verdict on two series): it is appended to the id.

    Examples
    --------
    >>> insight(stream_id="s", ts=1.0, detector="rules", kind="refusal",
    ...         severity="warning", at_seq=7, detail={}).id
    's/rules/refusal/7'
    """
    suffix = "" if instance is None else f"/{instance}"
    return Insight(v=CONTRACT_VERSION, id=f"{stream_id}/{detector}/{kind}/{at_seq}{suffix}",
                   stream_id=stream_id, ts=ts, detector=detector, kind=kind,
                   severity=severity, at_seq=at_seq, detail=detail)


def control(
    *,
    stream_id: str,
    ts: float,
    action: ControlAction,
    reason: str,
    at_seq: int,
    span: tuple[int, int] | None = None,
) -> ControlEvent:
    """Build a control record (topic ``midstream.control``).

    ``span`` is ``[start, end)`` in characters of the stream's text so far.

    Examples
    --------
    >>> control(stream_id="s", ts=1.0, action="stop", reason="loop", at_seq=3).id
    's/stop/loop/3'
    """
    suffix = "" if span is None else f"/{span[0]}"
    return ControlEvent(v=CONTRACT_VERSION, id=f"{stream_id}/{action}/{reason}/{at_seq}{suffix}",
                        stream_id=stream_id, ts=ts, action=action, reason=reason,
                        at_seq=at_seq,
                        span=None if span is None else Span(start=span[0], end=span[1]))


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
) -> DeadLetter:
    """Build a dead-letter record (topic ``midstream.dlq``) that keeps the original bytes.

    Payloads longer than ``max_payload_bytes`` are cut to that length (a dead
    letter must itself fit in a Kafka message); the record then says so and
    carries the full payload's size and SHA-256, and ``source_topic``,
    ``partition`` and ``offset`` still point at the untouched original.

    Examples
    --------
    >>> d = dead_letter(ts=0.0, source_topic="t", partition=0, offset=5,
    ...                 reason="invalid_json", error="bad", payload=b"{")
    >>> base64.b64decode(d.payload_b64), d.payload_truncated
    (b'{', False)
    >>> dead_letter(ts=0.0, source_topic="t", partition=0, offset=6, reason="oversize",
    ...             error="big", payload=b"x" * 10, max_payload_bytes=4).payload_bytes
    10
    """
    body = payload or b""
    truncated = len(body) > max_payload_bytes
    return DeadLetter(
        v=CONTRACT_VERSION, ts=ts, source_topic=source_topic, partition=partition,
        offset=offset, reason=reason, error=error,
        payload_b64=base64.b64encode(body[:max_payload_bytes]).decode("ascii"),
        payload_bytes=len(body), payload_truncated=truncated,
        key_b64=None if key is None else base64.b64encode(key[:1024]).decode("ascii"),
        payload_sha256=hashlib.sha256(body).hexdigest() if truncated else None,
    )


OPTIONAL_TOKEN_FIELDS = ("logprob", "meta")
"""Token-event fields written only when present. ``text``, ``role``, ``model`` and
``provider`` are always written, ``null`` included, as v1 producers always did."""

Record = Insight | ControlEvent | DeadLetter | FeedbackEvent | TokenEvent


def encode(record: Record | dict[str, Any]) -> bytes:
    """Serialise a record as compact JSON bytes, the same bytes for a struct as for its dict.

    orjson writes the bytes (msgspec would spell large floats ``1e16`` where v1
    messages have always said ``1e+16``); the struct decides which fields appear.

    >>> encode({"v": 1})
    b'{"v":1}'
    >>> encode(TokenEvent(v=1, stream_id="s", seq=0, ts=2.0, kind="start", text=""))
    b'{"v":1,"stream_id":"s","seq":0,"ts":2.0,"kind":"start","text":"","role":null,"model":null,"provider":null}'
    """
    if isinstance(record, dict):
        return _dumps(record)
    fields: dict[str, Any] = msgspec.to_builtins(record)
    if isinstance(record, TokenEvent):
        for name in OPTIONAL_TOKEN_FIELDS:
            if fields[name] is None:
                del fields[name]
    return _dumps(fields)


def _dumps(fields: dict[str, Any]) -> bytes:
    """Write with orjson; msgspec writes what orjson cannot (integers past 64 bits in ``meta``).

    >>> _dumps({"meta": {"n": 10**30}})
    b'{"meta":{"n":1000000000000000000000000000000}}'
    """
    try:
        return orjson.dumps(fields)
    except orjson.JSONEncodeError:
        return msgspec.json.encode(fields)
