"""Contract v1 on the wire: recorded messages decode into the structs and re-encode byte for byte.

The files in ``contract_v1/`` were recorded from the code before the structs
existed (the flow tests, both demos and the token publisher), so a struct that
reorders, adds, drops or reformats a field fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import msgspec
import pytest

from midstream.core import events
from midstream.core.contracts import ControlEvent, DeadLetter, Insight

RECORDED = Path(__file__).parent / "contract_v1"

class Parser(Protocol):
    def __call__(self, payload: bytes | None, *, max_bytes: int = ...) -> Any: ...


PARSERS: dict[str, Parser] = {
    "insights": events.parse_insight,
    "control": events.parse_control_event,
    "dlq": events.parse_dead_letter,
    "tokens": events.parse_token_event,
    "feedback": events.parse_feedback_event,
}
STRUCTS: dict[str, type[msgspec.Struct]] = {
    "insights": Insight, "control": ControlEvent, "dlq": DeadLetter,
    "tokens": events.TokenEvent, "feedback": events.FeedbackEvent,
}


def recorded(kind: str) -> list[bytes]:
    return (RECORDED / f"{kind}.jsonl").read_bytes().splitlines()


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_recorded_messages_decode_and_re_encode_byte_for_byte(kind: str) -> None:
    messages = recorded(kind)
    assert messages
    for message in messages:
        parsed: Any = PARSERS[kind](message)
        encoded = events.encode(parsed)
        assert isinstance(parsed, STRUCTS[kind]), (message, parsed)
        assert encoded == message


def test_the_recordings_cover_every_kind_of_output() -> None:
    insights = [events.parse_insight(m) for m in recorded("insights")]
    detectors = {i.detector for i in insights if isinstance(i, Insight)}
    assert detectors == {"health", "hook", "lyapunov", "media", "regime", "rules", "sequence",
                         "shape"}
    actions = {c.action for c in map(events.parse_control_event, recorded("control"))
               if isinstance(c, ControlEvent)}
    assert actions == {"stop", "redact"}
    letters = [d for d in map(events.parse_dead_letter, recorded("dlq"))
               if isinstance(d, DeadLetter)]
    assert {d.reason for d in letters} >= {"empty", "invalid_json", "key_mismatch", "oversize",
                                           "schema", "unsupported_version", "kafka_error"}
    assert any(d.payload_sha256 is not None for d in letters)


def test_builders_write_what_was_recorded() -> None:
    first = events.parse_control_event(recorded("control")[0])
    assert isinstance(first, ControlEvent) and first.span is not None
    rebuilt = events.control(stream_id=first.stream_id, ts=first.ts, action=first.action,
                             reason=first.reason, at_seq=first.at_seq,
                             span=(first.span.start, first.span.end))
    assert events.encode(rebuilt) == recorded("control")[0]


def test_a_struct_and_its_dict_encode_alike() -> None:
    record = events.insight(stream_id="s", ts=1e16, detector="d", kind="k", severity="info",
                            at_seq=None, detail={"x": 1e-7, "t": (1, 2)})
    assert events.encode(record) == events.encode(msgspec.to_builtins(record))
    assert b'"ts":1e+16' in events.encode(record)
    assert b'"at_seq":null' in events.encode(record)


HOSTILE = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"v":1,"meta":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"junk":' + b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000 + b',"v":1}',
    b'{"v":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"v":1,"detail":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"\xff\xfe", b"", b"null", b"{", b'{"v":true}', b'{"v":2}', b'"v"',
]


@pytest.mark.parametrize("kind", sorted(PARSERS))
@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_invalid_never_an_exception(kind: str, payload: bytes) -> None:
    parsed = PARSERS[kind](payload, max_bytes=1 << 20)
    assert isinstance(parsed, events.Invalid)
    assert parsed.reason in {"schema", "invalid_json", "unsupported_version"}


def test_a_future_version_is_told_apart_from_a_broken_message() -> None:
    assert events.parse_control_event(b'{"v":2,"stream_id":"s"}').reason == "unsupported_version"
    deep = events.parse_insight(b'{"v":1,"detail":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}")
    assert isinstance(deep, events.Invalid) and deep.error == events.TOO_DEEP
