"""PullSource: a resumable Bytewax source of pulled streams, on a clip made by ffmpeg."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from bytewax.testing import TestingSink, run_main

from midstream.connectors.media.pull_source import PullSource
from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media import build_flow
from midstream.flows.media_analysis import MediaAnalyzer
from tests.connectors.media.test_pull import make_clip, needs_ffmpeg


@needs_ffmpeg
def test_a_clip_flows_through_the_media_flow_and_the_source_ends(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 3.0)
    out: list[Any] = []
    run_main(build_flow(PullSource([(str(clip), "clip")]), TestingSink(out),
                        analyzer=MediaAnalyzer(MediaConfig(window_seconds=1.0))))
    insights = [orjson.loads(m.value) for m in out]
    kinds = [i["kind"] for i in insights]
    assert kinds[0] == "connected" and "ended" in kinds
    fps = [i["detail"]["fps"] for i in insights if i["kind"] == "video_window"]
    assert fps and all(f == pytest.approx(25.0, abs=0.5) for f in fps)


def drain(part: Any, until: float = 10.0, most: int | None = None) -> list[MediaRecord]:
    records: list[MediaRecord] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline and (most is None or len(records) < most):
        try:
            records += part.next_batch()
        except StopIteration:
            break
        time.sleep(0.005)
    return records


@needs_ffmpeg
def test_a_resumed_partition_continues_after_what_the_flow_took(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 4.0)
    # Small batches: the file decodes far faster than real time, and the drain must stop
    # near 120 records whatever the machine's load, not after one batch of everything.
    source = PullSource([(str(clip), "clip")], batch=10)
    first = source.build_part("in", "clip", None)
    taken = drain(first, most=120)
    assert len(taken) < 130
    position = first.snapshot()
    first.close()
    last_video = max(r.pts for r in taken if r.kind == "video" and r.pts is not None)
    assert position.video_pts == last_video
    second = source.build_part("in", "clip", position)
    rest = drain(second)
    second.close()
    video = [r.pts for r in rest if r.kind == "video" and r.pts is not None]
    assert video and min(video) > last_video  # nothing analysed twice
    assert len([r for r in taken if r.kind == "video"]) + len(video) >= 95  # nor much lost


def test_stream_ids_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        PullSource([("rtmp://a/live/x", "x"), ("rtmp://b/live/x", "x")])
