"""Tests of the outcome simulator: seeded, honest ground truth, valid events, real detections."""

from __future__ import annotations

from dataclasses import replace

import pytest

from midstream.cli.outcome_simulator import (
    BEHAVIOURS,
    SimulatedStream,
    SimulatorConfig,
    simulate,
    true_probability,
    true_weights,
)
from midstream.flows.stream_analysis import StreamAnalyzer

SMALL = SimulatorConfig(streams=200, seed=7)


def test_same_seed_same_streams_other_seed_other_streams() -> None:
    first, again = list(simulate(SMALL)), list(simulate(SMALL))
    assert [(s.events, s.behaviours, s.p_bad, s.bad, s.label_at) for s in first] == [
        (s.events, s.behaviours, s.p_bad, s.bad, s.label_at) for s in again]
    other = list(simulate(replace(SMALL, seed=8)))
    assert [s.events for s in other] != [s.events for s in first]


def test_true_probabilities_are_open_and_match_the_bad_rate() -> None:
    sims = list(simulate(SimulatorConfig(streams=4000, seed=1)))
    assert all(0.0 < s.p_bad < 1.0 for s in sims)
    mean_p = sum(s.p_bad for s in sims) / len(sims)
    bad_rate = sum(s.bad for s in sims) / len(sims)
    # Binomial standard error is about 0.007 here: 0.03 is over four of them.
    assert abs(bad_rate - mean_p) < 0.03
    for s in sims:
        assert s.p_bad == pytest.approx(true_probability(SimulatorConfig(streams=4000, seed=1),
                                                         s.index, s.behaviours))


def test_drift_switches_the_weights_at_drift_at() -> None:
    config = replace(SMALL, drift_at=50)
    assert true_weights(config, 49) == config.weights_before
    assert true_weights(config, 50) == config.weights_after
    assert config.weights_before != config.weights_after
    assert SimulatorConfig(streams=100).drift_index == 50
    rambling = frozenset({"rambling"})
    assert true_probability(config, 49, rambling) != true_probability(config, 50, rambling)


def test_feedback_delays_are_positive_with_about_the_configured_mean() -> None:
    sims = list(simulate(SimulatorConfig(streams=3000, seed=2)))
    delays = [s.label_at - s.index for s in sims]
    assert min(delays) >= 1
    assert 45 < sum(delays) / len(delays) < 55


def test_events_are_valid_streams() -> None:
    for s in simulate(SMALL):
        kinds = [e.kind for e in s.events]
        assert kinds[0] == "start" and kinds[-1] == "end"
        assert set(kinds[1:-1]) == {"delta"}
        assert [e.seq for e in s.events] == list(range(len(s.events)))
        assert all(e.stream_id == s.stream_id for e in s.events)
        assert all(a.ts <= b.ts for a, b in zip(s.events, s.events[1:], strict=False))
        assert s.behaviours <= set(BEHAVIOURS)


def _analyse(sim: SimulatedStream) -> list[tuple[str, object]]:
    analyzer = StreamAnalyzer.with_defaults()
    state = analyzer.new_state(sim.stream_id)
    outputs: list[tuple[str, object]] = []
    for event in sim.events:
        outputs.extend(analyzer.on_event(state, event, event.ts))
    return outputs


def _first_with(config: SimulatorConfig, behaviour: str) -> SimulatedStream:
    return next(s for s in simulate(config) if behaviour in s.behaviours)


def _stops_for_a_loop(outputs: list[tuple[str, object]]) -> bool:
    return any(kind == "control" and getattr(record, "reason", None) == "repetition_loop"
               for kind, record in outputs)


def test_a_late_loop_stream_triggers_the_loop_detection() -> None:
    assert _stops_for_a_loop(_analyse(_first_with(replace(SMALL, rate_late_loop=1.0), "late_loop")))


def test_a_healthy_stream_has_no_loop_and_a_refusal_fires_the_rule() -> None:
    healthy = replace(SMALL, rate_slow_start=0.0, rate_refusal=0.0, rate_apology=0.0,
                      rate_rambling=0.0, rate_late_stall=0.0, rate_late_loop=0.0)
    assert not _stops_for_a_loop(_analyse(next(iter(simulate(healthy)))))
    refusal = _first_with(replace(healthy, rate_refusal=1.0), "refusal")
    kinds = {getattr(record, "kind", None) for kind, record in _analyse(refusal)
             if kind == "insights"}
    assert "refusal" in kinds
