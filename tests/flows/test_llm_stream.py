"""Flow tests for flows/llm_stream.py with bytewax.testing (no services)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import CollectorRegistry

from midstream.cli.sample_streams import demo_streams
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.metrics import LlmStreamMetrics
from midstream.flows.llm_stream import build_flow
from midstream.flows.stream_analysis import StreamAnalyzer
from tests.streams import as_messages, decoded, token_stream

TOPICS = Topics()


def run(events, *, config=None, registry=None, batch_size=100, clock=time.time):
    registry = registry or CollectorRegistry()
    analyzer = StreamAnalyzer.with_defaults(config or AnalysisConfig(),
                                            LlmStreamMetrics(registry))
    out = []
    source = TestingSource(events if _has_markers(events) else as_messages(events), batch_size)
    run_main(build_flow(source, TestingSink(out), analyzer=analyzer, topics=TOPICS, clock=clock))
    return out, registry


def _has_markers(events):
    return any(not isinstance(e, (dict, bytes)) for e in events)


def insights(out):
    return decoded(out, TOPICS.insights)


def controls(out):
    return decoded(out, TOPICS.control)


def test_healthy_stream_gets_a_summary_and_no_alarms():
    pieces = [" Hello", " there", ",", " how", " can", " I", " help", "?"]
    out, registry = run(token_stream("h", pieces))
    records = insights(out)
    assert [r["kind"] for r in records] == ["summary"]
    detail = records[0]["detail"]
    assert detail["tokens"] == 8
    assert detail["time_to_first_token_s"] == pytest.approx(0.2)
    assert detail["tokens_per_second"] == pytest.approx(50.0)
    assert controls(out) == []
    assert registry.get_sample_value("midstream_streams_completed_total") == 1.0
    assert registry.get_sample_value(
        "gen_ai_client_operation_time_to_first_chunk_seconds_count",
        {"gen_ai_provider_name": "p", "gen_ai_request_model": "m"}) == 1.0
    assert registry.get_sample_value(
        "gen_ai_client_operation_time_per_output_chunk_seconds_count",
        {"gen_ai_provider_name": "p", "gen_ai_request_model": "m"}) == 7.0
    assert registry.get_sample_value("midstream_streams_open") == 0.0
    assert registry.get_sample_value("midstream_events_total") == 10.0


def test_refusal_split_across_deltas_reports_token_index_and_lead():
    pieces = ["Sorry", ",", " I", " can", "'t", " he", "lp", " with", " that", ".", " Bye"]
    out, _ = run(token_stream("r", pieces))
    refusal = next(r for r in insights(out) if r["kind"] == "refusal")
    assert refusal["at_seq"] == 8  # the delta " with" (index 7) completes the phrase
    assert refusal["detail"]["token_index"] == 7
    summary = next(r for r in insights(out) if r["kind"] == "summary")
    lead = next(d for d in summary["detail"]["detections"] if d["kind"] == "refusal")
    assert lead["lead_tokens"] == 3  # " that", ".", " Bye" followed the detection


def test_pii_is_redacted_with_a_span_and_never_echoed_in_insights():
    pieces = ["Reach", " me", " at", " bob.", "smith@", "exam", "ple.org", " today"]
    out, registry = run(token_stream("p", pieces))
    (redact,) = controls(out)
    assert redact["action"] == "redact" and redact["reason"] == "email_address"
    text = "".join(pieces)
    span = redact["span"]
    assert text[span["start"]:span["end"]] == "bob.smith@example.org"
    assert all("smith" not in orjson.dumps(r).decode() for r in insights(out))
    assert registry.get_sample_value("midstream_control_events_total", {"action": "redact"}) == 1


def test_repetition_loop_stops_the_stream_at_the_certain_token():
    span = [" I", " will", " check", " again", "."]
    pieces = [" Let", " me", " look", " now"] + span * 8
    out, _ = run(token_stream("l", pieces))
    loop = next(r for r in insights(out) if r["detector"] == "regime")
    assert (loop["kind"], loop["detail"]["series"]) == ("periodic", "token_ids")
    assert loop["detail"]["period_tokens"] == 5
    assert loop["detail"]["token_index"] == 4 + 24 - 1
    (stop,) = controls(out)
    assert stop["action"] == "stop" and stop["at_seq"] == loop["at_seq"]


def test_event_time_stall_is_reported_once():
    events = token_stream("s", [" a", " b", " c", " d"])
    for e in events[3:]:
        e["ts"] += 5.0  # a 5 s gap before the third delta
    out, registry = run(events)
    stalls = [r for r in insights(out) if r["kind"] == "stall"]
    assert len(stalls) == 1
    assert stalls[0]["at_seq"] == 2 and stalls[0]["detail"]["gap_seconds"] == pytest.approx(5.02)
    assert registry.get_sample_value("midstream_stream_stalls_total") == 1.0


def test_abandoned_and_live_stall_fire_without_new_input():
    config = AnalysisConfig(stall_seconds=0.2, abandon_seconds=0.6)
    live = token_stream("gone", [" one", " two"], end=False, t0=time.time())
    late = {**live[-1], "seq": live[-1]["seq"] + 1}
    items = [*as_messages(live), TestingSource.PAUSE(timedelta(seconds=1.5)),
             *as_messages([late]), TestingSource.EOF()]
    out, registry = run(items, config=config)
    kinds = [r["kind"] for r in insights(out)]
    assert kinds == ["stall", "abandoned"]
    assert insights(out)[0]["detail"]["live"] is True
    assert registry.get_sample_value("midstream_streams_abandoned_total") == 1.0
    assert registry.get_sample_value("midstream_streams_open") == 0.0
    # A token that trickles in after the verdict is late, not a new stream.
    assert registry.get_sample_value("midstream_sequence_anomalies_total",
                                     {"kind": "after_end"}) == 1.0
    assert registry.get_sample_value("midstream_streams_started_total") == 1.0


def test_duplicates_and_events_after_end_are_ignored_but_counted():
    events = token_stream("d", [" x", " y"])
    out, registry = run([*events, events[1], events[-1], {**events[1], "seq": 99}])
    assert [r["kind"] for r in insights(out)] == ["summary"]
    assert registry.get_sample_value("midstream_sequence_anomalies_total",
                                     {"kind": "duplicate"}) == 2
    assert registry.get_sample_value("midstream_sequence_anomalies_total",
                                     {"kind": "after_end"}) == 1


def test_sequence_gap_is_an_insight():
    events = token_stream("g", [" a", " b", " c"])
    del events[2]
    out, _ = run(events)
    gap = next(r for r in insights(out) if r["kind"] == "gap")
    assert gap["detail"] == {"expected_seq": 2, "missing": 1}


def test_bad_input_goes_to_the_dead_letter_topic_with_position_and_nothing_is_lost():
    good = token_stream("ok", [" fine"])
    bad = [b"{oops", b"\x89PNG\r\n\x1a\n\x00", orjson.dumps({**good[0], "v": 7}),
           orjson.dumps({"v": 1, "stream_id": "x"}), b'{"v":1}' + b" " * 70_000]
    out, registry = run([good[0], *bad, *good[1:]])
    dead = decoded(out, TOPICS.dlq)
    assert [d["reason"] for d in dead] == ["invalid_json", "invalid_json",
                                           "unsupported_version", "schema", "oversize"]
    assert [d["offset"] for d in dead] == [1, 2, 3, 4, 5]
    assert all(d["source_topic"] == "midstream.llm.tokens" and d["partition"] == 0 for d in dead)
    import base64
    assert base64.b64decode(dead[1]["payload_b64"]) == bad[1]
    assert [r["kind"] for r in insights(out)] == ["summary"]
    assert registry.get_sample_value("midstream_dead_letters_total", {"reason": "schema"}) == 1


def test_many_interleaved_streams_are_kept_apart():
    a = token_stream("a", [" I", "'m", " sorry"])
    b = token_stream("b", [" all", " good"])
    interleaved = [e for pair in zip(a, b, strict=False) for e in pair] + a[len(b):]
    out, _ = run(interleaved, batch_size=3)
    by_stream = {(r["stream_id"], r["kind"]) for r in insights(out)}
    assert by_stream == {("a", "apology"), ("a", "summary"), ("b", "summary")}


def test_demo_streams_give_every_kind_of_insight():
    out, _ = run(demo_streams(t0=1000.0))
    kinds = {(r["stream_id"], r["kind"]) for r in insights(out)}
    assert {("refusal-1", "refusal"), ("loop-1", "periodic"), ("pii-1", "email_address"),
            ("pii-1", "payment_card"), ("pii-1", "phone_number"), ("stalled-1", "stall"),
            ("handoff-1", "handoff_request"), ("healthy-1", "summary")} <= kinds
    assert not any(s == "healthy-1" and k != "summary" for s, k in kinds)


@pytest.mark.parametrize("eager_gap", [1.0, 0.0], ids=["as_shipped", "no_idle_gap"])
def test_recovery_resumes_with_the_same_results(tmp_path, monkeypatch, eager_gap):
    """Abort mid-run, resume from the snapshots: the union equals an uninterrupted run.

    With a gap of 0, a stream is pickled right after each single-event change
    (once per epoch, ``EAGER_SNAPSHOT_GAP``) and the snapshots hand over those bytes.
    """
    monkeypatch.setattr("midstream.flows.routing.EAGER_SNAPSHOT_GAP", eager_gap)
    events = demo_streams(t0=1000.0)
    reference, _ = run(events)
    reference_ids = {orjson.loads(m.value)["id"] for m in reference}

    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    analyzer = StreamAnalyzer.with_defaults(AnalysisConfig(), LlmStreamMetrics(CollectorRegistry()))
    half = len(events) // 2
    items = [*as_messages(events[:half]), TestingSource.ABORT(), *as_messages(events)[half:]]
    out: list = []
    flow = build_flow(TestingSource(items, 10), TestingSink(out), analyzer=analyzer, topics=TOPICS)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # stops at ABORT
    first_ids = {orjson.loads(m.value)["id"] for m in out}
    assert first_ids and first_ids < reference_ids
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    resumed = {orjson.loads(m.value)["id"]: orjson.loads(m.value) for m in out}
    assert set(resumed) == reference_ids
    # Not just the same facts: the same numbers, so per-stream state really was restored.
    assert resumed == {orjson.loads(m.value)["id"]: orjson.loads(m.value) for m in reference}


def test_eagerly_pickled_bytes_always_equal_the_state_now():
    """Whatever the touches and their gaps, a snapshot is the pickle of the state as it is."""
    from midstream.core import snapshots
    from midstream.flows.llm_stream import StreamLogic
    from midstream.flows.routing import DeadLetters

    analyzer = StreamAnalyzer.with_defaults(AnalysisConfig(), LlmStreamMetrics(CollectorRegistry()))
    now = [1000.0]
    dead = DeadLetters(TOPICS.dlq, analyzer.metrics.dead_letters, lambda: now[0])
    logic = StreamLogic(analyzer, TOPICS, dead, lambda: now[0], None)
    messages = as_messages(token_stream("s", [" a", " b", " jane@example.com", " c"] * 5))
    eager = []
    for i, message in enumerate(messages):
        now[0] += 2.0 if i % 3 == 0 else 0.01   # idle before some touches, busy before others
        logic.on_batch([("s", message.value, None, None, None, b"s")])
        logic.notify_at()
        eager.append(logic._pickled is not None)
        assert logic.snapshot() == snapshots.snapshot(logic.state)
        if i % 4 == 0:
            now[0] += 2.0
            logic.on_notify()
            assert logic.snapshot() == snapshots.snapshot(logic.state)
    assert any(eager) and not all(eager)  # both paths were taken


def test_a_job_reading_a_backlog_does_not_pickle_each_batch():
    """Behind its input, a worker sees every stream idle between its large batches.

    A touch that brings several events is not pickled eagerly, and single-event
    touches are pickled eagerly once per epoch at most: otherwise a job that fell
    behind would pickle every stream on every batch and fall further behind.
    """
    from midstream.flows.llm_stream import StreamLogic
    from midstream.flows.routing import DeadLetters

    analyzer = StreamAnalyzer.with_defaults(AnalysisConfig(), LlmStreamMetrics(CollectorRegistry()))
    now = [1000.0]
    dead = DeadLetters(TOPICS.dlq, analyzer.metrics.dead_letters, lambda: now[0])
    logic = StreamLogic(analyzer, TOPICS, dead, lambda: now[0], None)
    payloads = [("s", m.value, None, None, None, b"s")
                for m in as_messages(token_stream("s", [" word"] * 40))]
    logic.on_batch(payloads[:2])
    logic.notify_at()
    eager = []
    for start in range(2, 20, 3):  # a backlog: each batch brings the stream three events
        now[0] += 2.0
        logic.on_batch(payloads[start:start + 3])
        logic.notify_at()
        eager.append(logic.take_pickled() is not None)
    assert eager == [False] * 6
    for i, payload in enumerate(payloads[20:26]):  # one event per batch, two epochs
        now[0] += 2.0
        logic.on_batch([payload])
        logic.notify_at()
        eager.append(logic.take_pickled() is not None)
        if i == 2:
            logic.snapshot()  # the epoch ends
    assert eager[6:] == [True, False, False, True, False, False]


def test_config_from_env_reaches_the_flow():
    config = replace(AnalysisConfig(), loop_action="flag")
    span = [" a", " b", " c"]
    out, _ = run(token_stream("l", span * 10), config=config)
    assert controls(out) == []
    assert any(r["kind"] == "periodic" for r in insights(out))


def test_keyed_bad_messages_and_key_mismatch_are_dead_lettered_after_the_exchange():
    from midstream.connectors.kafka import RawMessage

    good = token_stream("k1", [" fine"])
    items = as_messages(good)
    items.insert(1, RawMessage(b"k1", b"{not json", "midstream.llm.tokens", 0, 50))
    mismatch = orjson.dumps({**good[1], "stream_id": "other", "seq": 7})
    items.insert(2, RawMessage(b"k1", mismatch, "midstream.llm.tokens", 0, 51))
    out, _ = run(items)
    dead = decoded(out, TOPICS.dlq)
    assert [(d["reason"], d["offset"], d["key_b64"]) for d in dead] == [
        ("invalid_json", 50, "azE="), ("key_mismatch", 51, "azE=")]
    assert "producers must key messages by stream id" in dead[1]["error"]
    assert [r["kind"] for r in insights(out)] == ["summary"]


def test_per_stream_state_stays_bounded_on_a_long_stream():
    import pickle

    analyzer = StreamAnalyzer.with_defaults()
    state = analyzer.new_state("long")
    from midstream.core.events import TokenEvent

    sizes = []
    for seq in range(20_000):
        event = TokenEvent(v=1, stream_id="long", seq=seq, ts=1000 + seq * 0.02, kind="delta",
                           text=f" word{seq % 997}")
        analyzer.on_event(state, event, now=0.0)
        if seq in (5_000, 19_999):
            sizes.append(len(pickle.dumps(state)))
    assert sizes[1] < 12_000  # mostly the sliding windows of the series analysis
    assert sizes[1] <= sizes[0] * 1.1  # no growth with stream length
