"""Feedback events (``midstream.feedback``): what was valid stays valid, and each new rule has its reason."""

from __future__ import annotations

import orjson
import pytest

from midstream.core import events

OLD_STYLE = [
    b'{"v":1,"stream_id":"s","ts":1,"reward":1}',
    b'{"v":1,"stream_id":"s","ts":1.5,"reward":-0.25,"action":"stop"}',
    b'{"v":1,"stream_id":"s","ts":1,"reward":0,"outcome":"resolved"}',
    b'{"v":1,"stream_id":"s","ts":1,"reward":0.5,"outcome":"user_retried","meta":{"a":[1]}}',
    b'{"v":1,"stream_id":"s","ts":1,"reward":1e300,"future_field":{"x":1}}',
    b'{"v":1,"stream_id":"s","ts":1,"reward":1,"outcome":null,"action":null,"meta":null}',
]


@pytest.mark.parametrize("payload", OLD_STYLE)
def test_old_style_messages_parse_as_before(payload: bytes) -> None:
    event = events.parse_feedback_event(payload)
    assert isinstance(event, events.FeedbackEvent)
    fields = orjson.loads(payload)
    assert event.reward == fields["reward"]
    for name in ("stream_id", "ts", "action", "outcome", "meta"):
        assert getattr(event, name) == fields.get(name)
    assert event.decision_id is None


def test_new_fields_are_read_and_written_only_when_present() -> None:
    payload = b'{"v":1,"stream_id":"s","decision_id":"turn-3","ts":2.0,"outcome":"thumbs_down"}'
    event = events.parse_feedback_event(payload)
    assert event == events.FeedbackEvent(v=1, stream_id="s", decision_id="turn-3", ts=2.0,
                                         outcome="thumbs_down")
    assert events.encode(event) == payload
    only_reward = events.FeedbackEvent(v=1, stream_id="s", ts=2.0, reward=0.5)
    assert events.encode(only_reward) == b'{"v":1,"stream_id":"s","ts":2.0,"reward":0.5}'


def test_a_null_reward_with_an_outcome_is_an_absent_reward() -> None:
    event = events.parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"reward":null,'
                                        b'"outcome":"abandoned"}')
    assert isinstance(event, events.FeedbackEvent) and event.reward is None


def test_any_outcome_string_within_the_bound_is_accepted_as_in_v1() -> None:
    for outcome in ("a", "thumbs_up", "csat_5", "x" * events.MAX_OUTCOME_CHARS, "a__", "",
                    "Thumbs Up", "thumbs-up", "résolu", "resolved\n"):
        payload = orjson.dumps({"v": 1, "stream_id": "s", "ts": 1, "outcome": outcome})
        event = events.parse_feedback_event(payload)
        assert isinstance(event, events.FeedbackEvent) and event.outcome == outcome


BASE = {"v": 1, "stream_id": "s", "ts": 1}


@pytest.mark.parametrize(
    ("payload", "reason", "fragment"),
    [
        (orjson.dumps(BASE), "no_outcome", "needs a 'reward'"),
        (orjson.dumps({**BASE, "reward": None}), "no_outcome", "or an 'outcome'"),
        (orjson.dumps({**BASE, "reward": None, "outcome": None, "action": "stop"}),
         "no_outcome", ""),
        (orjson.dumps({**BASE, "outcome": "x" * 257}), "schema", "length <= 256"),
        (orjson.dumps({**BASE, "outcome": "x" * 60_000}), "schema", "length <= 256"),
        (orjson.dumps({**BASE, "outcome": 1}), "schema", "$.outcome"),
        (orjson.dumps({**BASE, "reward": 1, "decision_id": ""}), "schema", "$.decision_id"),
        (orjson.dumps({**BASE, "reward": 1, "decision_id": "d" * 257}), "schema",
         "length <= 256"),
        (orjson.dumps({**BASE, "reward": 1, "decision_id": 7}), "schema", "$.decision_id"),
        (orjson.dumps({**BASE, "reward": "1"}), "schema", "$.reward"),
        (orjson.dumps({**BASE, "reward": True}), "schema", "$.reward"),
        (b'{"v":1,"stream_id":"s","ts":1,"reward":1e999}', "schema", "$.reward"),
        (b'{"v":1,"stream_id":"s","ts":1,"reward":-1e999}', "schema", "$.reward"),
        (b'{"v":1,"stream_id":"s","ts":1,"reward":NaN}', "invalid_json", ""),
        (b'{"v":1,"stream_id":"s","ts":1,"reward":Infinity}', "invalid_json", ""),
        (b'{"v":2,"stream_id":"s","ts":1}', "unsupported_version", "version 2"),
    ],
)
def test_invalid_feedback_is_explained(payload: bytes, reason: str, fragment: str) -> None:
    result = events.parse_feedback_event(payload)
    assert isinstance(result, events.Invalid)
    assert (result.reason, fragment in result.error) == (reason, True), result


def test_a_message_past_the_size_limit_is_oversize() -> None:
    payload = orjson.dumps({**BASE, "reward": 1, "meta": {"x": "y" * 70_000}})
    result = events.parse_feedback_event(payload)
    assert isinstance(result, events.Invalid) and result.reason == "oversize"
