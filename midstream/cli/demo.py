"""``midstream demo``: the LLM-stream flow on bundled sample streams, with no services.

The flow is the production one (:func:`midstream.flows.llm_stream.build_flow`); only the
source (a real-time replay of ``midstream/cli/data/sample_streams.jsonl``) and the
sink (the terminal) differ. Prometheus metrics are served on localhost while
it runs. It ends by itself, after the abandoned-stream timer has had time to
fire, and prints a per-stream summary.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from bytewax.run import cli_main
from prometheus_client import start_http_server

from midstream.cli.sample_streams import REPLAY_FILE
from midstream.connectors.console import ConsoleSink
from midstream.connectors.replay import ReplaySource
from midstream.core.config import EXAMPLE_SHAPES, AnalysisConfig, Topics
from midstream.core.metrics import default_metrics
from midstream.flows.llm_stream import build_flow
from midstream.flows.stream_analysis import StreamAnalyzer

DEMO_CONFIG = AnalysisConfig(stall_seconds=1.0, abandon_seconds=4.0, ended_grace_seconds=2.0,
                             shapes_path=str(EXAMPLE_SHAPES))
"""Short timers, so the demo shows a live stall and an abandoned stream within seconds,
and the example shape templates."""


@dataclass
class DemoResult:
    """What the demo saw: every record the flow emitted, by kind."""

    insights: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class _Progress:
    """Prints a progress line at most once a second while the replay runs."""

    def __init__(self, out: TextIO, started: float) -> None:
        self.out = out
        self.started = started
        self.last = 0.0
        self.done = False

    def __call__(self, emitted: int, total: int) -> None:
        now = time.monotonic()
        if emitted == total and not self.done:
            self.done = True
            print(f"  +{now - self.started:5.2f}s  -- replayed all {total} events; waiting for"
                  " timers (stalls, abandoned streams) --", file=self.out, flush=True)
        elif now - self.last >= 1.0 and not self.done:
            self.last = now
            print(f"  +{now - self.started:5.2f}s  -- {emitted}/{total} events replayed --",
                  file=self.out, flush=True)


def run_demo(
    *,
    replay: Path = REPLAY_FILE,
    speed: float = 1.0,
    metrics_port: int = 9464,
    rules_path: str | None = None,
    shapes_path: str | None = None,
    out: TextIO | None = None,
    config: AnalysisConfig = DEMO_CONFIG,
) -> DemoResult:
    """Replay the sample streams through the flow, print insights live, return what was seen."""
    out = out or sys.stdout
    if rules_path is not None:
        config = replace(config, rules_path=rules_path)
    if shapes_path is not None:
        config = replace(config, shapes_path=shapes_path)
    topics = Topics()
    analyzer = StreamAnalyzer.from_config(config, default_metrics())
    # Compile the numeric kernels before the replay's clock starts: on a fresh install the
    # compile takes seconds, and a worker stalled that long makes live streams look silent
    # (one was reported abandoned mid-stream).
    analyzer.warm_up()
    server = None
    if metrics_port:
        server, _thread = start_http_server(metrics_port, addr="127.0.0.1")
        port = server.server_address[1]
        print(f"MidStream demo · metrics at http://127.0.0.1:{port}/metrics", file=out)
    print(f"Replaying {replay.name} at {speed}x; insights appear as streams unfold.\n",
          file=out, flush=True)
    kind_of_topic = {topics.insights: "insight", topics.control: "control", topics.dlq: "dlq"}
    started = time.monotonic()
    sink = ConsoleSink(lambda t: kind_of_topic.get(t or "", "insight"), out=out)
    source = ReplaySource(replay, topic=topics.tokens, speed=speed,
                          linger=config.abandon_seconds + 1.0,
                          on_emit=_Progress(out, started))
    try:
        cli_main(build_flow(source, sink, analyzer=analyzer, topics=topics))
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    result = DemoResult(seconds=time.monotonic() - started)
    for kind, record in sink.records:
        {"insight": result.insights, "control": result.controls,
         "dlq": result.dead_letters}[kind].append(record)
    print_summary(result, out)
    return result


def _finding_name(record: dict[str, Any]) -> str:
    """``refusal``, or for series analyses ``itl chaotic``, ``itl LLE chaotic``."""
    detector, kind = record["detector"], record["kind"]
    name = {"lyapunov": f"LLE {kind}", "shape": f"shape {kind}"}.get(detector, kind)
    series = record["detail"].get("series")
    return f"{series} {name}" if series and series != "token_ids" else name


def print_summary(result: DemoResult, out: TextIO) -> None:
    """Print a per-stream table of what happened."""
    streams: dict[str, dict[str, Any]] = {}
    for record in result.insights:
        row = streams.setdefault(record["stream_id"], {"status": "open", "found": []})
        kind = record["kind"]
        if kind in ("summary", "abandoned"):
            row["status"] = "completed" if kind == "summary" else "ABANDONED"
            row["detail"] = record["detail"]
        elif kind == "stall":
            row["found"].append("stall")
        else:
            token = record["detail"].get("token_index", "?")
            row["found"].append(f"{_finding_name(record)}@{token}")
    stops = {c["stream_id"] for c in result.controls if c["action"] == "stop"}
    redactions: dict[str, int] = {}
    for c in result.controls:
        if c["action"] == "redact":
            redactions[c["stream_id"]] = redactions.get(c["stream_id"], 0) + 1
    print(f"\nSummary ({result.seconds:.1f} s)\n", file=out)
    print(f"  {'stream':<13} {'status':<10} {'tokens':>6} {'TTFT ms':>8} {'tok/s':>6}  "
          f"{'found':<40} action", file=out)
    for stream_id, row in sorted(streams.items()):
        d = row.get("detail", {})
        ttft = d.get("time_to_first_token_s")
        rate = d.get("tokens_per_second")
        action = "stop" if stream_id in stops else ""
        if stream_id in redactions:
            action = (action + " " if action else "") + f"redact x{redactions[stream_id]}"
        print(f"  {stream_id:<13} {row['status']:<10} {d.get('tokens', ''):>6} "
              f"{'' if ttft is None else f'{ttft * 1000:.0f}':>8} "
              f"{'' if rate is None else f'{rate:.0f}':>6}  "
              f"{', '.join(row['found']) or '-':<40} {action}", file=out)
    print(f"\n  {len(result.insights)} insights, {len(result.controls)} control events, "
          f"{len(result.dead_letters)} dead letters.", file=out, flush=True)
