"""The media part of ``midstream demo``: two synthetic camera streams through the media flow.

No service is needed: FFmpeg's lavfi sources, decoded by PyAV, stand in for
the cameras, and the frames go through the same feature extraction and the
same dataflow (:func:`midstream.flows.media.build_flow`) as live WebRTC, RTMP or HLS
streams do. ``cam-1`` plays a test pattern and a tone with four seconds of
silence and a frozen ending, then ends cleanly; ``cam-2`` stops without a
word, as a publisher whose network went away, and is reported dead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from bytewax.run import cli_main

from midstream.connectors.console import ConsoleSink
from midstream.connectors.media.features import Emit, FeatureTap
from midstream.connectors.media.source import IngestSource
from midstream.connectors.media.synthetic import LavfiPlayer, lavfi_graph
from midstream.core.config import MediaConfig, Topics
from midstream.core.metrics import default_media_metrics
from midstream.flows.media import build_flow
from midstream.flows.media_analysis import MediaAnalyzer

DEMO_MEDIA_CONFIG = MediaConfig(window_seconds=2.0, dead_seconds=2.0, forget_seconds=30.0)
"""Short windows and a short dead-stream timer, so that everything shows within seconds."""


@dataclass
class MediaDemoResult:
    """Every insight and dead letter the media flow emitted."""

    insights: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def demo_players(emit: Emit, *, speed: float = 1.0, hooks: Callable[[str], list[object]]
                 = lambda stream_id: []) -> list[LavfiPlayer]:
    """Make the demo's two synthetic streams (not started)."""
    return [
        LavfiPlayer(lavfi_graph(seconds=10.0, moving_seconds=6.0, silence=(2.0, 6.0)),
                    FeatureTap("cam-1", "lavfi", emit, hooks=hooks("cam-1")), speed=speed),
        LavfiPlayer(lavfi_graph(seconds=4.0, moving_seconds=4.0, silence=None,
                                size="640x360", tone_hz=220.0),
                    FeatureTap("cam-2", "lavfi", emit, hooks=hooks("cam-2")), speed=speed,
                    announce_end=False),
    ]


def run_media_demo(*, speed: float = 1.0, out: TextIO | None = None,
                   config: MediaConfig = DEMO_MEDIA_CONFIG) -> MediaDemoResult:
    """Play the synthetic streams through the media flow, printing insights as they come."""
    out = out or sys.stdout
    topics = Topics()
    players: list[LavfiPlayer] = []
    linger = config.dead_seconds + 1.5  # let the dead-stream timer fire before the end
    done_at: list[float] = []

    def start(emit: Emit) -> Callable[[], None]:
        players.extend(demo_players(emit, speed=speed))
        for player in players:
            player.start()

        def stop() -> None:
            for player in players:
                player.stop()

        return stop

    def finished() -> bool:
        if not players or not all(p.done.is_set() for p in players):
            return False
        if not done_at:
            done_at.append(time.monotonic())
        return time.monotonic() - done_at[0] >= linger

    print("\nMedia: two synthetic camera streams (lavfi test pattern + tone, decoded by PyAV)."
          "\n  cam-1: 10 s, silent from 2 s to 6 s, frozen from 6 s, then ends cleanly."
          "\n  cam-2: 4 s at 640x360, then stops without a word.\n", file=out, flush=True)
    kind_of_topic = {topics.insights: "insight", topics.dlq: "dlq"}
    sink = ConsoleSink(lambda t: kind_of_topic.get(t or "", "insight"), out=out)
    analyzer = MediaAnalyzer(config, default_media_metrics())
    analyzer.warm_up()  # compile the numeric kernels before the first frame, not during one
    started = time.monotonic()
    cli_main(build_flow(IngestSource(start, finished=finished), sink, analyzer=analyzer,
                        topics=topics, flow_id="media_demo"))
    result = MediaDemoResult(seconds=time.monotonic() - started)
    for kind, record in sink.records:
        (result.insights if kind == "insight" else result.dead_letters).append(record)
    _print_summary(result, out)
    return result


def _print_summary(result: MediaDemoResult, out: TextIO) -> None:
    streams: dict[str, list[str]] = {}
    for record in result.insights:
        kind = record["kind"]
        if kind.endswith("_window") or record["detector"] == "regime":
            continue
        streams.setdefault(record["stream_id"], []).append(kind)
    print(f"\nMedia summary ({result.seconds:.1f} s)", file=out)
    for stream_id, kinds in sorted(streams.items()):
        print(f"  {stream_id:<8} {', '.join(kinds)}", file=out)
    windows = sum(r["kind"].endswith("_window") for r in result.insights)
    print(f"\n  {len(result.insights)} media insights ({windows} window summaries), "
          f"{len(result.dead_letters)} dead letters.", file=out, flush=True)
