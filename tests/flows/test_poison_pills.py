"""Poison-pill immunity of both flows: nothing one stream sends, or one stream's analysis
raises, stops the flow or the other streams (issue 11, item 1).

Failing detectors are real analyzers with one step overridden to raise for one stream,
run through ``build_flow`` with ``bytewax.testing``.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import CollectorRegistry

from midstream.connectors.kafka import RawMessage
from midstream.core import events
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.media_events import MediaRecord
from midstream.core.metrics import LlmStreamMetrics, MediaMetrics
from midstream.flows import llm_stream, media
from midstream.flows.media_analysis import MediaAnalyzer, MediaState
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState

TOPICS = Topics()


class FailingAnalyzer(StreamAnalyzer):
    """The real analyzer, whose delta step raises for text ``"boom"``."""

    def _on_delta(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        if event.text == "boom":
            raise ZeroDivisionError("injected")
        super()._on_delta(state, event, out)


class FailingTimers(StreamAnalyzer):
    """The real analyzer, whose end-of-input and next-timer steps raise for stream ``bad``."""

    def on_input_end(self, state: StreamState) -> list[Output]:
        if state.stream_id == "bad":
            raise KeyError("injected at input end")
        return super().on_input_end(state)


def token(stream: str, seq: int, kind: str, text: str | None = None,
          ts: float | None = None) -> RawMessage:
    body = {"v": 1, "stream_id": stream, "seq": seq, "ts": 1000.0 + seq if ts is None else ts,
            "kind": kind, "text": text}
    return RawMessage(stream.encode(), orjson.dumps(body), TOPICS.tokens, 0, seq)


def run_llm(analyzer: StreamAnalyzer, messages: list[Any]) -> list[dict[str, Any]]:
    out: list[Any] = []
    run_main(llm_stream.build_flow(TestingSource(messages, batch_size=2), TestingSink(out),
                                   analyzer=analyzer, topics=TOPICS))
    return [orjson.loads(m.value) | {"topic": m.topic, "key": m.key} for m in out]


def errors(registry: CollectorRegistry, flow: str, stage: str, error: str) -> float | None:
    return registry.get_sample_value("midstream_analysis_errors_total",
                                     {"flow": flow, "stage": stage, "error": error})


def test_a_raising_detector_dead_letters_the_event_and_resets_only_its_stream() -> None:
    registry = CollectorRegistry()
    analyzer = FailingAnalyzer.with_defaults(AnalysisConfig(), LlmStreamMetrics(registry))
    messages = [token("a", 0, "start"), token("b", 0, "start"),
                token("a", 1, "delta", "boom"), token("b", 1, "delta", "I'm sorry"),
                token("a", 2, "delta", "I'm sorry"), token("b", 2, "end"), token("a", 3, "end")]
    out = run_llm(analyzer, messages)

    dead = [r for r in out if r["topic"] == TOPICS.dlq]
    assert [(d["reason"], d["offset"]) for d in dead] == [("analysis_error", 1)]
    assert dead[0]["error"] == "ZeroDivisionError in event: injected"
    assert orjson.loads(base64.b64decode(dead[0]["payload_b64"]))["text"] == "boom"
    assert base64.b64decode(dead[0]["key_b64"]) == b"a"
    found = {(r["stream_id"], r["kind"]) for r in out if r["topic"] == TOPICS.insights}
    # b is untouched; a goes on after the reset: its next delta and its end are analysed.
    assert {("b", "apology"), ("b", "summary"), ("a", "apology"), ("a", "summary")} <= found
    assert errors(registry, "llm_stream", "event", "ZeroDivisionError") == 1.0
    assert registry.get_sample_value("midstream_dead_letters_total",
                                     {"reason": "analysis_error"}) == 1.0
    assert registry.get_sample_value("midstream_streams_open") == 0.0


def test_a_raising_timer_step_is_contained_and_counted() -> None:
    registry = CollectorRegistry()
    analyzer = FailingTimers.with_defaults(AnalysisConfig(), LlmStreamMetrics(registry))
    out = run_llm(analyzer, [token("bad", 0, "start"), token("good", 0, "start"),
                             token("bad", 1, "delta", "x"), token("good", 1, "delta", "y")])
    dead = [r for r in out if r["topic"] == TOPICS.dlq]
    assert [(d["reason"], d["error"], d["key"]) for d in dead] == [
        ("analysis_error", "KeyError in input_end: 'injected at input end'", b"bad")]
    assert {(r["stream_id"], r["kind"]) for r in out if r["topic"] == TOPICS.insights} == {
        ("good", "abandoned")}
    assert errors(registry, "llm_stream", "input_end", "KeyError") == 1.0


def test_a_delta_stamped_far_in_the_future_or_past_is_analysed() -> None:
    analyzer = StreamAnalyzer.with_defaults()
    now = time.time()
    messages = [token("s", 0, "start", ts=now), token("s", 1, "delta", "a", ts=now + 0.1),
                token("s", 2, "delta", "b", ts=1e300), token("s", 3, "delta", "c", ts=-1e300),
                token("s", 4, "end", ts=now + 0.2)]
    out = run_llm(analyzer, messages)
    assert not [r for r in out if r["topic"] == TOPICS.dlq]
    # The jump of 1e300 s is a stall, then the stream reads as abandoned: judged, not raised.
    assert {"stall", "abandoned"} <= {r["kind"] for r in out if r["topic"] == TOPICS.insights}


@pytest.mark.parametrize("key", [b"\xff\xfe", b"k" * 100_000, b""])
def test_keys_that_are_not_stream_ids_never_stop_the_flow(key: bytes) -> None:
    value = orjson.dumps({"v": 1, "stream_id": "s", "seq": 0, "ts": 1.0, "kind": "start"})
    out = run_llm(StreamAnalyzer.with_defaults(),
                  [RawMessage(key, value, TOPICS.tokens, 0, 0), token("s", 1, "end")])
    reasons = [r["reason"] for r in out if r["topic"] == TOPICS.dlq]
    # A non-UTF-8 or empty key falls back to the stream id in the value; a key that is
    # not the stream id is a key mismatch.
    assert reasons == ([] if len(key) < 3 else ["key_mismatch"])


class FailingMedia(MediaAnalyzer):
    """The real media analyzer, whose record step raises for stream ``cam-bad``."""

    def on_record(self, state: MediaState, record: MediaRecord, now: float) -> list[Output]:
        if record.stream_id == "cam-bad" and record.kind == "video":
            raise ValueError("injected")
        return super().on_record(state, record, now)


def status(stream: str, seq: int) -> MediaRecord:
    return MediaRecord(v=1, stream_id=stream, seq=seq, ts=float(seq), kind="status",
                       status="connected", source="rtmp")


def video(stream: str, seq: int) -> MediaRecord:
    return MediaRecord(v=1, stream_id=stream, seq=seq, ts=float(seq), kind="video", pts=0.0,
                       width=2, height=2, luma=100.0, motion=1.0)


def run_media(analyzer: MediaAnalyzer, items: list[Any]) -> list[dict[str, Any]]:
    out: list[Any] = []
    run_main(media.build_flow(TestingSource(items, batch_size=1), TestingSink(out),
                              analyzer=analyzer, topics=TOPICS, clock=lambda: 10.0))
    return [orjson.loads(m.value) | {"topic": m.topic} for m in out]


def test_a_raising_media_analysis_dead_letters_the_record_and_others_go_on() -> None:
    registry = CollectorRegistry()
    analyzer = FailingMedia(metrics=MediaMetrics(registry))
    out = run_media(analyzer, [status("cam-bad", 0), status("cam-ok", 0), video("cam-bad", 1),
                               status("cam-bad", 2), status("cam-ok", 1)])
    dead = [r for r in out if r["topic"] == TOPICS.dlq]
    assert [(d["reason"], d["error"]) for d in dead] == [
        ("analysis_error", "ValueError in event: injected")]
    record = orjson.loads(base64.b64decode(dead[0]["payload_b64"]))
    assert (record["stream_id"], record["kind"]) == ("cam-bad", "video")
    found = [(r["stream_id"], r["kind"]) for r in out if r["topic"] == TOPICS.insights]
    assert found.count(("cam-ok", "connected")) == 2
    assert found.count(("cam-bad", "connected")) == 2  # after the reset too
    assert errors(registry, "media", "event", "ValueError") == 1.0
    # Two live streams remain: the reset one was counted out and back in.
    assert registry.get_sample_value("midstream_media_streams_open") == 2.0


BIG = b"123456789012345678901234567890"


@pytest.mark.parametrize(("record", "reason"), [
    (b'{"v":1,"stream_id":"cam","seq":0,"ts":1,"kind":"label","hook":"h","label":"l",'
     b'"meta":{"n":' + BIG + b"}}", None),
    (b'{"v":1,"stream_id":"cam","seq":0,"ts":1,"kind":"video","pts":0,"width":' + BIG
     + b',"height":2,"luma":1,"motion":0}', "schema"),
    (b'{"v":1,"stream_id":"cam","seq":' + BIG + b',"ts":1,"kind":"status","status":"ended"}',
     "schema"),
])
def test_integers_past_64_bits_are_analysed_or_rejected_never_raised(
        record: bytes, reason: str | None) -> None:
    registry = CollectorRegistry()
    out = run_media(MediaAnalyzer(metrics=MediaMetrics(registry)),
                    [RawMessage(b"cam", record, TOPICS.media, 0, 0)])
    assert [r.get("reason") for r in out if r["topic"] == TOPICS.dlq] == (
        [] if reason is None else [reason])
    assert registry.get_sample_value("midstream_analysis_errors_total",
                                     {"flow": "media", "stage": "event",
                                      "error": "TypeError"}) is None


def test_a_token_seq_past_64_bits_is_a_schema_error() -> None:
    parsed = events.parse_token_event(b'{"v":1,"stream_id":"s","seq":' + BIG
                                      + b',"ts":1,"kind":"start"}')
    assert isinstance(parsed, events.Invalid)
    assert parsed.reason == "schema"
