"""Tests for flows/stream_analysis/timers.py: replayed history gives the same insights at any speed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from midstream.cli.sample_streams import demo_streams
from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.core.contracts import ControlEvent, Insight
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState
from tests.streams import token_stream

WALL_CLOCK = 2_000_000_000.0
"""Where the fake processing clock starts: long after the replayed events were produced."""


def replay(history: list[dict[str, Any]], seconds_per_event: float,
           config: AnalysisConfig | None = None, start: float = WALL_CLOCK) -> list[Output]:
    """Feed ``history`` as a flow does, on a fake clock that advances per event.

    Every timer due before an event fires first, at its due time; the input
    ends after the last event.
    """
    analyzer = StreamAnalyzer.with_defaults(config)
    states: dict[str, StreamState] = {}
    out: list[Output] = []
    now = start
    for raw in history:
        now += seconds_per_event
        for stream_id, state in list(states.items()):
            while (due := analyzer.next_timer(state)) <= now:
                fired, forget = analyzer.on_timer(state, due)
                out += fired
                if forget:
                    del states[stream_id]
                    break
        event = events.parse_token_event(orjson.dumps(raw), max_bytes=1 << 20)
        assert not isinstance(event, events.Invalid)
        state = states.setdefault(event.stream_id, analyzer.new_state(event.stream_id))
        out += analyzer.on_event(state, event, now)
    for state in states.values():
        out += analyzer.on_input_end(state)
    return out


def by_id(outputs: list[Output]) -> dict[str, Insight | ControlEvent]:
    return {f"{topic}:{record.id}": record for topic, record in outputs}


def test_replayed_history_gives_the_same_insights_on_a_slow_clock():
    history = demo_streams(t0=1_000_000.0)
    fast = by_id(replay(history, seconds_per_event=0.0001))
    # Ten streams interleave, so each stream waits seconds (over stall_seconds) per event.
    slow = by_id(replay(history, seconds_per_event=0.05))
    assert len(fast) > 20
    assert slow == fast


def test_a_replayed_stream_without_its_end_is_abandoned_in_event_time():
    history = token_stream("gone", [" one", " two"], end=False, t0=5_000.0)
    (abandoned,) = [r for _, r in replay(history, seconds_per_event=3.0)]
    assert abandoned.kind == "abandoned"
    config = AnalysisConfig()
    assert abandoned.ts == pytest.approx(history[-1]["ts"] + config.abandon_seconds)
    assert abandoned.detail["silent_seconds"] == config.abandon_seconds
    assert abandoned.detail["live"] is False
    assert abandoned.at_seq == history[-1]["seq"]


def test_a_gap_of_abandon_seconds_in_replayed_event_time_abandons_the_stream():
    config = AnalysisConfig(stall_seconds=2.0, abandon_seconds=30.0)
    history = token_stream("gap", [" a", " b", " c"], t0=5_000.0)
    for event in history[3:]:
        event["ts"] += 40.0  # the producer went quiet for 40 s before " c"
    kinds = [r.kind for _, r in replay(history, seconds_per_event=0.001, config=config)]
    assert kinds == ["abandoned"]  # " c" and the end arrive after the verdict: late


def test_a_live_stream_still_gets_processing_time_stalls():
    config = AnalysisConfig(stall_seconds=2.0, abandon_seconds=30.0)
    history = token_stream("now", [" a", " b"], end=False, t0=WALL_CLOCK)
    outputs = replay(history, seconds_per_event=0.01, config=config, start=WALL_CLOCK)
    analyzer = StreamAnalyzer.with_defaults(config)
    assert [r.kind for _, r in outputs] == []  # the input ended, the stream is live
    state = analyzer.new_state("now")
    for raw in history:
        event = events.parse_token_event(orjson.dumps(raw), max_bytes=1 << 20)
        assert not isinstance(event, events.Invalid)
        analyzer.on_event(state, event, raw["ts"] + 0.05)
    assert state.live
    fired, _ = analyzer.on_timer(state, analyzer.next_timer(state))
    assert [(r.kind, r.detail["live"]) for _, r in fired] == [("stall", True)]
