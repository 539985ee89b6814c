"""Per-event cost of each part of the analysis, in process (no Kafka, no Bytewax).

Splits the job's per-event Python work into its parts on the benchmark
workload, so the throughput figures in RESULTS.md can be explained. The peer
is the cheapest possible step, ``orjson.loads`` of the same payloads.

    python -m bench.analysis_cost --events 200000

The series analysis (regime, Lyapunov, shapes) is also timed on its own, per
latency sample, on long streams with log-normal jitter: the benchmark
workload's streams are short and evenly paced, so they barely exercise it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import orjson

from bench.workload import interleaved
from midstream.core.config import EXAMPLE_SHAPES, AnalysisConfig
from midstream.core.events import TokenEvent, parse_token_event
from midstream.core.shapes_file import load_shapes
from midstream.flows.learning.features import PrefixTrail, checkpoint_features
from midstream.flows.series_analysis import SeriesAnalysis
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState
from midstream.operators.repetition import RepetitionDetector
from midstream.operators.text_rules import TextScanState


def per_event(label: str, n: int, run: Callable[[], object], repeats: int = 3) -> float:
    best = min(_timed(run) for _ in range(repeats))
    micros = best / n * 1e6
    print(f"{label:<46} {micros:6.2f} µs/event")
    return micros


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seed-streams", type=int, default=40,
                        help="long jittered streams for the series-analysis breakdown")
    args = parser.parse_args()
    payloads = [value for _, value in interleaved(args.events, args.streams)]
    events = [e for e in map(parse_token_event, payloads) if isinstance(e, TokenEvent)]
    deltas = [e for e in events if e.kind == "delta"]
    n = len(payloads)
    analyzer = StreamAnalyzer.with_defaults()
    print(f"{n} events, {len(deltas)} deltas, {args.streams} concurrent streams; "
          "best of 3 runs\n")

    peer = per_event("peer: orjson.loads", n, lambda: [orjson.loads(p) for p in payloads])
    parse = per_event("parse + validate (msgspec)", n,
                      lambda: [parse_token_event(p) for p in payloads])

    def scan() -> None:
        states: dict[str, TextScanState] = {}
        for e in deltas:
            state = states.get(e.stream_id) or states.setdefault(e.stream_id, TextScanState())
            analyzer.rules.scan(state, e.text or "")

    def loops() -> None:
        detectors: dict[str, RepetitionDetector] = {}
        for e in deltas:
            detector = detectors.get(e.stream_id)
            if detector is None:
                detector = detectors[e.stream_id] = RepetitionDetector()
            detector.update(e.text or "")

    def whole_with(chosen: StreamAnalyzer) -> Callable[[], None]:
        def whole() -> None:
            states: dict = {}
            for e in events:
                state = states.get(e.stream_id)
                if state is None or state.ended:
                    state = states[e.stream_id] = chosen.new_state(e.stream_id)
                chosen.on_event(state, e, 0.0)
        return whole

    without_temporal = StreamAnalyzer.with_defaults(replace(
        AnalysisConfig(), regime_window=0, lyapunov_window=0, shapes_path=""))
    whole = whole_with(analyzer)

    rules = per_event("rule scan (Aho-Corasick + anchored regexes)", n, scan)
    loop = per_event("repetition-loop detector", n, loops)
    plain = per_event("whole analysis, temporal analysis off", n, whole_with(without_temporal))
    total = per_event("whole analysis (health, rules, loop, series, metrics)", n, whole)
    print(f"\nparse + analysis = {parse + total:.2f} µs/event "
          f"({(parse + total) / peer:.1f}x the peer); "
          f"glue and metrics = {plain - rules - loop:.2f} µs/event; "
          f"series analysis on this workload = {total - plain:.2f} µs/event")
    learning_features(events, analyzer)
    long_streams(args.seed_streams)


def learning_features(events: list[TokenEvent], analyzer: StreamAnalyzer) -> None:
    """What the outcome predictor's features add: the trail per event, the vector per checkpoint."""
    states: dict[str, StreamState] = {}
    trails: dict[str, PrefixTrail] = {}
    for e in events:
        state = states.get(e.stream_id)
        if state is None or state.ended:
            state = states[e.stream_id] = analyzer.new_state(e.stream_id)
            trails[e.stream_id] = PrefixTrail()
        analyzer.on_event(state, e, 0.0)
    ready = list(states.values())

    class Applied:  # what PrefixTrail.on_event reads of the state: the event was applied
        last_seq = 0

    def follow() -> None:
        fresh: dict[str, PrefixTrail] = {}
        applied = Applied()
        for e in events:
            trail = fresh.get(e.stream_id)
            if trail is None or e.kind == "start":
                trail = fresh[e.stream_id] = PrefixTrail()
            applied.last_seq = e.seq
            trail.on_event(e, applied)  # type: ignore[arg-type]

    print()
    per_event("learning: prefix trail (words, gap moments)", len(events), follow)
    per_event("learning: checkpoint features, per checkpoint", len(ready),
              lambda: [checkpoint_features(s, trails[s.stream_id], "tokens") for s in ready])


def long_streams(count: int) -> None:
    """Series analysis alone on long streams with realistic (log-normal) latency jitter."""
    rng = np.random.default_rng(3)
    series = [rng.lognormal(np.log(25.0), 0.35, 600) for _ in range(count)]
    samples = count * 600
    analysis = SeriesAnalysis(templates=load_shapes(EXAMPLE_SHAPES))
    print(f"\n{count} streams of 600 log-normal inter-token latencies "
          "(regime 48/4, Lyapunov 300/100, the example shape template):")

    def run_series(chosen: SeriesAnalysis) -> Callable[[], None]:
        def run() -> None:
            for values in series:
                state = chosen.new_state("itl")
                for seq, value in enumerate(values.tolist()):
                    chosen.on_sample(state, value, seq)
        return run

    parts = {
        "regime only": SeriesAnalysis(lyapunov_window=0),
        "Lyapunov only": SeriesAnalysis(regime_window=0),
        "shape template only": SeriesAnalysis(regime_window=0, lyapunov_window=0,
                                              templates=load_shapes(EXAMPLE_SHAPES)),
        "regime + Lyapunov (the job's default)": SeriesAnalysis(),
        "all three (the demo's settings)": analysis,
    }
    for label, chosen in parts.items():
        per_event(f"  {label}", samples, run_series(chosen), repeats=1)


if __name__ == "__main__":
    main()
