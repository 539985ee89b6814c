"""Tests for midstream/events.py: contract v1 validation."""

from __future__ import annotations

import base64

import orjson
import pytest

from midstream.core import events
from midstream.core.contracts import Span

GOOD = {"v": 1, "stream_id": "s", "seq": 3, "ts": 1.5, "kind": "delta", "text": "hé",
        "role": "assistant", "model": "m", "provider": "p", "logprob": -0.2, "meta": {"a": 1}}


def test_valid_event_round_trips_every_field():
    event = events.parse_token_event(orjson.dumps(GOOD))
    assert event == events.TokenEvent(v=1, stream_id="s", seq=3, ts=1.5, kind="delta",
                                      text="hé", role="assistant", model="m", provider="p",
                                      logprob=-0.2, meta={"a": 1})


def test_unknown_fields_are_ignored_for_forward_compatibility():
    event = events.parse_token_event(orjson.dumps({**GOOD, "new_field": [1, 2]}))
    assert isinstance(event, events.TokenEvent)


@pytest.mark.parametrize(
    ("payload", "reason", "fragment"),
    [
        (b"{not json", "invalid_json", "not valid UTF-8 JSON"),
        (b"\x00\xff\xfe garbage", "invalid_json", "not valid"),
        (b"[1,2]", "schema", "expected a JSON object"),
        (b"", "invalid_json", "not valid"),
        (None, "empty", "no value"),
        (orjson.dumps({**GOOD, "v": 2}), "unsupported_version", "version 2"),
        (orjson.dumps({**GOOD, "v": "1"}), "schema", "$.v"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "v"}), "schema", "field `v`"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "stream_id"}), "schema",
         "field `stream_id`"),
        (orjson.dumps({**GOOD, "stream_id": ""}), "schema", "$.stream_id"),
        (orjson.dumps({**GOOD, "stream_id": "x" * 300}), "schema", "length <= 256"),
        (orjson.dumps({**GOOD, "seq": -1}), "schema", "$.seq"),
        (orjson.dumps({**GOOD, "seq": 1.5}), "schema", "$.seq"),
        (orjson.dumps({**GOOD, "seq": True}), "schema", "$.seq"),
        (orjson.dumps({**GOOD, "ts": "now"}), "schema", "$.ts"),
        (orjson.dumps({**GOOD, "kind": "middle"}), "schema", "$.kind"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "text"}), "schema", "needs a string"),
        (orjson.dumps({**GOOD, "text": 5}), "schema", "$.text"),
        (orjson.dumps({**GOOD, "model": 5}), "schema", "$.model"),
        (orjson.dumps({**GOOD, "logprob": "x"}), "schema", "$.logprob"),
        (orjson.dumps({**GOOD, "meta": [1]}), "schema", "$.meta"),
        (b'{"v":1,"stream_id":"s","seq":0,"ts":1e999,"kind":"start"}', "schema", "$.ts"),
        (b'{"v":1,"stream_id":"s","seq":0,"ts":NaN,"kind":"start"}', "invalid_json", ""),
    ],
)
def test_invalid_events_are_explained(payload, reason, fragment):
    result = events.parse_token_event(payload)
    assert isinstance(result, events.Invalid)
    assert result.reason == reason
    assert fragment in result.error


def test_oversize_is_rejected_before_parsing():
    payload = orjson.dumps({**GOOD, "text": "x" * 70_000})
    result = events.parse_token_event(payload)
    assert isinstance(result, events.Invalid) and result.reason == "oversize"
    assert isinstance(events.parse_token_event(payload, max_bytes=1 << 20), events.TokenEvent)


def test_start_and_end_need_no_text():
    event = events.parse_token_event(b'{"v":1,"stream_id":"s","seq":0,"ts":1,"kind":"end"}')
    assert isinstance(event, events.TokenEvent) and event.text is None


def test_feedback_validation():
    assert isinstance(events.parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1}'),
                      events.Invalid)
    ok = events.parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"reward":1,"action":"stop"}')
    assert isinstance(ok, events.FeedbackEvent) and ok.action == "stop"


def test_dead_letter_keeps_original_bytes_and_position():
    record = events.dead_letter(ts=1.0, source_topic="t", partition=2, offset=9,
                                reason="schema", error="e", payload=b"\x00\x01", key=b"k")
    assert base64.b64decode(record.payload_b64) == b"\x00\x01"
    assert (record.partition, record.offset, record.key_b64) == (2, 9, "aw==")


def test_insight_and_control_ids_are_stable_and_distinct_per_instance():
    a = events.insight(stream_id="s", ts=1, detector="rules", kind="email", severity="info",
                       at_seq=4, detail={}, instance=10)
    b = events.insight(stream_id="s", ts=2, detector="rules", kind="email", severity="info",
                       at_seq=4, detail={}, instance=30)
    assert a.id != b.id
    c1 = events.control(stream_id="s", ts=1, action="redact", reason="email", at_seq=4,
                        span=(10, 20))
    assert c1.id == "s/redact/email/4/10" and c1.span == Span(start=10, end=20)
