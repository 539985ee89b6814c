"""Property tests (hypothesis) for the parsers and the flows' poison-pill containment."""

from __future__ import annotations

from typing import Any

import orjson
from bytewax.testing import TestingSink, TestingSource, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from midstream.connectors.kafka import RawMessage
from midstream.core import events
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.media_events import MediaRecord, parse_media_record
from midstream.core.metrics import LlmStreamMetrics
from midstream.core.outcomes import Label, load_outcomes, resolve_feedback
from midstream.flows.llm_stream import build_flow
from midstream.flows.outputs import Output
from midstream.flows.routing import DeadLetters, Router, stream_finder
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState
from tests.streams import token_stream

TOPICS = Topics()
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@given(st.binary(max_size=2000))
def test_any_bytes_parse_to_an_event_or_an_invalid(payload: bytes) -> None:
    for parse, kind in ((events.parse_token_event, events.TokenEvent),
                        (events.parse_feedback_event, events.FeedbackEvent),
                        (events.parse_control_event, events.ControlEvent),
                        (parse_media_record, MediaRecord)):
        assert isinstance(parse(payload), events.Invalid | kind)


@given(st.fixed_dictionaries({"v": st.just(1), "stream_id": st.text(min_size=1, max_size=300),
                              "seq": st.integers(min_value=-5, max_value=2**70),
                              "ts": st.floats(allow_nan=False) | st.integers(),
                              "kind": st.sampled_from(["start", "delta", "end", "x"]),
                              "text": st.none() | st.text(), "meta": st.none() | JSON}))
def test_json_token_messages_parse_and_accepted_ones_round_trip(fields: dict[str, Any]) -> None:
    try:
        payload = orjson.dumps(fields)
    except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits
        payload = events.encode(fields)
    parsed = events.parse_token_event(payload)
    if isinstance(parsed, events.TokenEvent):
        assert events.parse_token_event(events.encode(parsed)) == parsed
        assert parsed.seq < 2**63
    else:
        assert parsed.reason in {"schema", "invalid_json", "oversize"}


OUTCOME_MAP = load_outcomes()


@given(st.fixed_dictionaries(
    {"v": st.just(1), "stream_id": st.text(min_size=1, max_size=8), "ts": st.floats(0, 1e10)},
    optional={"reward": st.none() | st.floats() | st.integers(),
              "outcome": st.none() | st.sampled_from(sorted(OUTCOME_MAP)) | st.text(max_size=70),
              "decision_id": st.none() | st.text(max_size=300), "action": st.text(max_size=8)}))
def test_feedback_parses_and_resolves_to_a_finite_label_or_a_reason(fields: dict[str, Any]
                                                                   ) -> None:
    parsed = events.parse_feedback_event(events.encode(fields))
    if isinstance(parsed, events.Invalid):
        assert parsed.reason in {"schema", "no_outcome"}
        return
    assert events.parse_feedback_event(events.encode(parsed)) == parsed
    label = resolve_feedback(parsed, OUTCOME_MAP)
    if isinstance(label, Label):
        assert label.reward == label.reward and abs(label.reward) < float("inf")
        if parsed.reward is not None:
            assert label.reward == parsed.reward
    else:
        assert label.reason == "unknown_outcome"
        assert parsed.reward is None and parsed.outcome not in OUTCOME_MAP


@given(st.none() | st.binary(max_size=400), st.none() | st.binary(max_size=400))
def test_the_router_keys_or_dead_letters_any_message(key: bytes | None,
                                                     value: bytes | None) -> None:
    counter = LlmStreamMetrics(CollectorRegistry()).dead_letters
    router = Router(DeadLetters(TOPICS.dlq, counter, lambda: 0.0),
                    stream_finder(events.parse_token_event, 65536))
    routed = router(RawMessage(key, value, TOPICS.tokens, 0, 0))
    if isinstance(routed, tuple):
        assert isinstance(routed[0], str) and routed[0]
    else:
        assert routed.topic == TOPICS.dlq


class FailsAt(StreamAnalyzer):
    """The real analyzer; raises on event ``seq`` of stream ``stream`` (a test-only hook)."""

    stream = ""
    seq = -1

    def _on_delta(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        if (event.stream_id, event.seq) == (self.stream, self.seq):
            raise RuntimeError("injected")
        super()._on_delta(state, event, out)


def insights_by_stream(analyzer: StreamAnalyzer, messages: list[RawMessage]
                       ) -> tuple[dict[str, set[str]], list[dict[str, Any]]]:
    out: list[Any] = []
    run_main(build_flow(TestingSource(messages, batch_size=3), TestingSink(out),
                        analyzer=analyzer, topics=TOPICS))
    found: dict[str, set[str]] = {}
    dead = []
    for message in out:
        record = orjson.loads(message.value)
        if message.topic == TOPICS.insights:
            found.setdefault(record["stream_id"], set()).add(record["id"])
        elif message.topic == TOPICS.dlq:
            dead.append(record)
    return found, dead


STREAMS = [token_stream(f"s{i}", [" I", "'m", " sorry", " again", " and"] * 3, t0=1000.0 + i)
           for i in range(4)]
MESSAGES = [RawMessage(e["stream_id"].encode(), orjson.dumps(e), TOPICS.tokens, 0, n)
            for n, e in enumerate(sorted((e for s in STREAMS for e in s),
                                         key=lambda e: (e["ts"], e["stream_id"])))]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=15))
def test_one_failing_event_changes_nothing_for_the_other_streams(bad_stream: int,
                                                                 bad_seq: int) -> None:
    clean, _ = insights_by_stream(
        StreamAnalyzer.with_defaults(AnalysisConfig(), LlmStreamMetrics(CollectorRegistry())),
        MESSAGES)
    failing = FailsAt.with_defaults(AnalysisConfig(), LlmStreamMetrics(CollectorRegistry()))
    assert isinstance(failing, FailsAt)
    failing.stream, failing.seq = f"s{bad_stream}", bad_seq
    found, dead = insights_by_stream(failing, MESSAGES)
    assert [(d["reason"], d["error"]) for d in dead] == [
        ("analysis_error", "RuntimeError in event: injected")]
    for stream in clean:
        if stream != f"s{bad_stream}":
            assert found.get(stream) == clean[stream]
