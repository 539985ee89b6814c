"""Regime, Lyapunov and shape insights from the LLM flow, on latency series with known dynamics."""

from __future__ import annotations

import random

import pytest

from midstream.cli.sample_streams import (
    demo_streams,
    hiccup_gaps,
    periodic_then_chaotic_gaps,
    stream_events,
    tokenize,
    varied_text,
)
from midstream.core.config import EXAMPLE_SHAPES, AnalysisConfig
from tests.flows.test_llm_stream import controls, insights, run

WITH_SHAPES = AnalysisConfig(shapes_path=str(EXAMPLE_SHAPES))


def stream_with_gaps(stream_id: str, gaps: list[float], seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = len(gaps) + 1
    text = varied_text(words, rng)
    while len(tokenize(text)) < len(gaps) + 1:
        words += 20
        text = varied_text(words, rng)
    pieces = tokenize(text)[: len(gaps) + 1]
    return stream_events(stream_id, "".join(pieces), t0=1000.0, rng=rng, gaps=gaps)


def regime_records(out, series="itl"):
    return [r for r in insights(out)
            if r["detector"] == "regime" and r["detail"].get("series") == series]


@pytest.mark.parametrize("seed", range(8))
def test_latency_switching_from_periodic_to_chaotic_is_flagged_within_50_samples(seed):
    rng = random.Random(seed)
    switch = rng.randrange(120, 200)
    rhythm = [rng.uniform(0.008, 0.040) for _ in range(rng.randrange(2, 7))]
    gaps = [rhythm[i % len(rhythm)] for i in range(switch)]
    x = rng.uniform(0.1, 0.9)
    for _ in range(150):
        x = 4.0 * x * (1.0 - x)
        gaps.append(0.005 + 0.030 * x)
    out, _ = run(stream_with_gaps("r", gaps, seed))
    kinds = [(r["kind"], r["detail"]["sample_index"]) for r in regime_records(out)]
    assert kinds[0][0] == "periodic" and kinds[0][1] < switch
    # Flagged: the first insight after the switch, within 50 samples of it ...
    assert kinds[1][0] != "periodic", kinds
    assert switch <= kinds[1][1] <= switch + 50, (switch, kinds)
    flag = regime_records(out)[1]
    assert flag["severity"] == "warning" and flag["detail"]["previous"] == "periodic"
    # ... and the new regime, once a window is mostly chaotic, is named.
    chaotic = [i for kind, i in kinds if kind == "chaotic"]
    assert chaotic and chaotic[0] <= switch + 100, (switch, kinds)
    assert controls(out) == []


def test_a_steady_rhythm_is_reported_once_and_never_as_chaos():
    gaps = [[0.010, 0.030, 0.020][i % 3] for i in range(400)]
    out, _ = run(stream_with_gaps("p", gaps))
    assert [r["kind"] for r in regime_records(out)] == ["periodic"]
    lle = [r for r in insights(out) if r["detector"] == "lyapunov"]
    assert all(r["kind"] != "chaotic" for r in lle)


def test_chaotic_latency_gets_a_confident_positive_lyapunov_exponent():
    gaps = periodic_then_chaotic_gaps(0, 700)
    out, _ = run(stream_with_gaps("c", gaps))
    lle = [r for r in insights(out) if r["detector"] == "lyapunov"]
    assert lle and lle[0]["kind"] == "chaotic", lle
    detail = lle[0]["detail"]
    assert detail["confident"] and detail["series"] == "itl"
    assert detail["value_per_sample"] == pytest.approx(0.693, rel=0.15)
    summary = next(r for r in insights(out) if r["kind"] == "summary")
    assert summary["detail"]["series"]["itl"]["lyapunov"]["confident"]


def test_a_hiccup_matches_the_shape_template_with_its_span():
    rng = random.Random(3)
    gaps = hiccup_gaps(80, 40, rng)
    out, _ = run(stream_with_gaps("h", gaps), config=WITH_SHAPES)
    (shape,) = [r for r in insights(out) if r["detector"] == "shape"]
    assert shape["kind"] == "hiccup_then_burst"
    detail = shape["detail"]
    # ITL sample i is the gap before delta i+1 (seq i+2): the pause is sample 40.
    assert detail["start_sample"] <= 40 < 43 <= detail["end_sample"]
    assert detail["start_seq"] == detail["start_sample"] + 2
    assert detail["distance"] <= detail["threshold"]


def test_logprob_series_is_analysed_when_present():
    events = stream_with_gaps("l", [0.02] * 200)
    for i, e in enumerate(e for e in events if e["kind"] == "delta"):
        e["logprob"] = [-0.1, -2.0][i % 2]
    out, _ = run(events)
    assert [r["kind"] for r in regime_records(out, "logprob")] == ["periodic"]
    summary = next(r for r in insights(out) if r["kind"] == "summary")
    assert summary["detail"]["series"]["logprob"]["regime"]["kind"] == "periodic"


def test_demo_shows_regime_lyapunov_and_shape_insights_and_healthy_streams_stay_quiet():
    out, _ = run(demo_streams(t0=1000.0), config=WITH_SHAPES)
    found = {(r["stream_id"], r["detector"], r["kind"]) for r in insights(out)}
    assert {("rhythm-1", "regime", "periodic"), ("rhythm-1", "regime", "chaotic"),
            ("rhythm-1", "lyapunov", "chaotic"),
            ("hiccup-1", "shape", "hiccup_then_burst")} <= found
    for healthy in ("healthy-1", "healthy-2"):
        assert {k for s, _, k in found if s == healthy} == {"summary"}


def test_the_job_matches_no_shapes_until_templates_are_configured():
    out, _ = run(demo_streams(t0=1000.0))
    assert not [r for r in insights(out) if r["detector"] == "shape"]


def test_temporal_analysis_can_be_switched_off():
    from dataclasses import replace

    config = replace(WITH_SHAPES, regime_window=0, lyapunov_window=0, shapes_path="")
    out, _ = run(demo_streams(t0=1000.0), config=config)
    assert not [r for r in insights(out) if r["detector"] in ("lyapunov", "shape")]
    assert {r["detail"]["series"] for r in insights(out) if r["detector"] == "regime"} == {
        "token_ids"}


def test_non_finite_samples_are_skipped_and_counted_not_fatal():
    from midstream.flows.series_analysis import SeriesAnalysis

    analysis = SeriesAnalysis(regime_window=16, regime_every=4, lyapunov_window=100,
                              lyapunov_every=50)
    state = analysis.new_state("logprob")
    good = 0
    for seq in range(120):
        if seq % 10 == 0:
            analysis.on_sample(state, float("-inf"), seq)
        else:
            analysis.on_sample(state, [-0.1, -2.0][good % 2], seq)
            good += 1
    summary = analysis.summary(state)
    assert summary["skipped_non_finite"] == 12 and summary["samples"] == 108
    assert summary["regime"]["kind"] == "periodic"
