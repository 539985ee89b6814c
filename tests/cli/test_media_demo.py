"""The media demo: real lavfi frames through the real extractors and the media flow."""

from __future__ import annotations

import io

from midstream.cli.media_demo import DEMO_MEDIA_CONFIG, run_media_demo


def test_media_demo_finds_the_planted_silence_freeze_and_dead_stream() -> None:
    out = io.StringIO()
    result = run_media_demo(speed=4.0, out=out, config=DEMO_MEDIA_CONFIG)
    kinds = {(r["stream_id"], r["kind"]) for r in result.insights}
    assert {("cam-1", "connected"), ("cam-1", "long_silence"), ("cam-1", "sound_resumed"),
            ("cam-1", "freeze"), ("cam-1", "ended"), ("cam-2", "dead")} <= kinds
    assert ("cam-2", "ended") not in kinds and ("cam-1", "dead") not in kinds
    silence = next(r for r in result.insights if r["kind"] == "long_silence")
    assert 1.9 <= silence["detail"]["since_pts"] <= 2.2  # muted from 2 s
    freeze = next(r for r in result.insights if r["kind"] == "freeze")
    assert 5.9 <= freeze["detail"]["since_pts"] <= 6.1  # frozen from 6 s
    windows = [r for r in result.insights if r["kind"] == "video_window"]
    assert all(abs(w["detail"]["fps"] - 25.0) < 0.5 for w in windows)
    assert result.dead_letters == []
    assert "Media summary" in out.getvalue()
