"""The media flow on hand-made feature records: each condition, the DLQ and the timers."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from midstream.connectors.kafka import RawMessage
from midstream.core.config import MediaConfig, Topics
from midstream.core.contracts import Insight
from midstream.core.media_events import MediaRecord, encode_media_record
from midstream.flows.media import build_flow
from midstream.flows.media_analysis import MediaAnalyzer
from midstream.flows.outputs import Output


def only_insights(out: list[Output]) -> list[Insight]:
    """The insights of an analyzer's outputs (the media flow makes no control events)."""
    found = [record for _, record in out if isinstance(record, Insight)]
    assert len(found) == len(out)
    return found


CONFIG = MediaConfig(window_seconds=1.0, freeze_seconds=1.0, black_seconds=1.0,
                     long_silence_seconds=1.0, dead_seconds=3.0, regime_window=0)


class Camera:
    """Makes a stream's records: video at ``fps``, audio every 20 ms, wall time = pts + delay."""

    def __init__(self, stream_id: str = "cam", fps: float = 25.0, start: float = 1000.0) -> None:
        self.stream_id = stream_id
        self.fps = fps
        self.start = start
        self.seq = itertools.count()

    def video(self, t0: float, t1: float, *, motion: float = 4.0, luma: float = 120.0,
              black: bool = False, size: tuple[int, int] = (320, 240), fps: float | None = None,
              delay: float = 0.05) -> Iterator[MediaRecord]:
        step = 1 / (fps or self.fps)
        n = round((t1 - t0) / step)
        for i in range(n):
            pts = t0 + i * step
            yield MediaRecord(v=1, stream_id=self.stream_id, seq=next(self.seq),
                              ts=self.start + pts + delay, kind="video", pts=round(pts, 6),
                              width=size[0], height=size[1], luma=luma, motion=motion,
                              black=black)

    def audio(self, t0: float, t1: float, *, voice: bool = True, pts_offset: float = 0.0,
              delay: float = 0.05) -> Iterator[MediaRecord]:
        for i in range(round((t1 - t0) / 0.02)):
            pts = t0 + i * 0.02
            yield MediaRecord(v=1, stream_id=self.stream_id, seq=next(self.seq),
                              ts=self.start + pts + delay, kind="audio",
                              pts=round(pts + pts_offset, 6), duration=0.02, sample_rate=48000,
                              rms_dbfs=-20.0 if voice else -90.0, voice=voice, clipped=0.0)


def by_time(*streams: Iterable[MediaRecord]) -> list[MediaRecord]:
    return sorted(itertools.chain(*streams), key=lambda r: r.ts)


def run(items: list[Any], config: MediaConfig = CONFIG,
        clock_end: float | None = None) -> list[dict[str, Any]]:
    """Run the flow; the clock follows the records' ts (and jumps to ``clock_end`` at the end)."""
    now = [0.0]

    def stamped() -> Iterator[Any]:
        for item in items:
            if isinstance(item, MediaRecord):
                now[0] = item.ts
            yield item

    out: list[Any] = []
    source_items = list(stamped())
    clock_times = iter([r.ts for r in items if isinstance(r, MediaRecord)])

    def clock() -> float:
        try:
            now[0] = next(clock_times)
        except StopIteration:
            if clock_end is not None:
                now[0] = clock_end
        return now[0]

    run_main(build_flow(TestingSource(source_items, batch_size=1), TestingSink(out),
                        analyzer=MediaAnalyzer(config), clock=clock))
    return [orjson.loads(m.value) | {"topic": m.topic} for m in out]


def kinds(records: list[dict[str, Any]]) -> list[str]:
    return [r["kind"] for r in records if r["topic"] == Topics().insights
            and not r["kind"].endswith("_window")]


def test_freeze_is_found_after_freeze_seconds_of_stillness_and_cleared_by_motion() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.video(0, 2), cam.video(2, 4, motion=0.0),
                                   cam.video(4, 5))))
    assert kinds(out) == ["freeze", "unfreeze"]
    freeze = next(r for r in out if r["kind"] == "freeze")
    assert freeze["detail"]["since_pts"] == 2.0 and freeze["detail"]["pts"] == pytest.approx(3.0)
    assert freeze["severity"] == "warning"


def test_short_stillness_is_not_a_freeze() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.video(0, 1), cam.video(1, 1.8, motion=0.0),
                                   cam.video(1.8, 3))))
    assert "freeze" not in kinds(out)


def test_black_screen_and_its_end() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.video(0, 1), cam.video(1, 3, black=True, luma=5.0),
                                   cam.video(3, 4))))
    assert kinds(out) == ["black_screen", "picture_resumed"]


def test_long_silence_and_speech_ratios_per_window() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.audio(0, 1), cam.audio(1, 2.5, voice=False),
                                   cam.audio(2.5, 4))))
    assert kinds(out) == ["long_silence", "sound_resumed"]
    ratios = [r["detail"]["speech_ratio"] for r in out if r["kind"] == "audio_window"]
    assert ratios == [1.0, 0.0, 0.5]  # windows [0,1) [1,2) [2,3); [3,4) is still open


def test_fps_drop_against_the_streams_usual_rate() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.video(0, 3), cam.video(3, 5, fps=10.0),
                                   cam.video(5, 8))))
    assert kinds(out) == ["fps_drop", "fps_recovered"]
    drop = next(r for r in out if r["kind"] == "fps_drop")
    assert drop["detail"]["usual_fps"] == pytest.approx(25.0, abs=0.5)
    assert drop["detail"]["fps"] == pytest.approx(10.0, abs=0.5)


def test_resolution_change_is_reported_once() -> None:
    cam = Camera()
    out = run(list(itertools.chain(cam.video(0, 1), cam.video(1, 2, size=(640, 480)))))
    changes = [r for r in out if r["kind"] == "resolution_changed"]
    assert len(changes) == 1 and changes[0]["detail"]["to"] == [640, 480]


def test_av_drift_when_the_audio_clock_runs_away() -> None:
    cam = Camera()
    config = MediaConfig(window_seconds=1.0, av_drift_seconds=0.2, regime_window=0,
                         dead_seconds=30.0)
    steady = by_time(cam.video(0, 3), cam.audio(0, 3))
    drifting = by_time(cam.video(3, 6), cam.audio(3, 6, pts_offset=0.5))  # audio jumps ahead
    out = run(steady + drifting, config)
    drift = [r for r in out if r["kind"] == "av_drift"]
    assert len(drift) == 1 and drift[0]["detail"]["drift_seconds"] == pytest.approx(0.5, abs=0.05)
    assert "av_drift" not in kinds(run(by_time(cam.video(6, 12), cam.audio(6, 12)), config))


def test_dead_stream_timer_fires_without_input_then_revives() -> None:
    """The analyzer's timers (the demo test covers them firing inside a running flow)."""
    analyzer = MediaAnalyzer(CONFIG)
    state = analyzer.new_state("cam")
    records = list(Camera().video(0, 1))
    for r in records:
        analyzer.on_record(state, r, now=r.ts)
    last = records[-1].ts
    assert analyzer.next_timer(state) == pytest.approx(last + 3.0)
    assert analyzer.on_timer(state, last + 2.0) == ([], False)
    fired, forget = analyzer.on_timer(state, last + 3.2)
    assert [r.kind for r in only_insights(fired)] == ["dead"] and not forget
    assert only_insights(fired)[0].detail["silent_for_seconds"] == pytest.approx(3.2)
    back = analyzer.on_record(state, records[-1], now=last + 5.0)
    assert [r.kind for r in only_insights(back)] == ["revived"]
    analyzer.on_timer(state, last + 9.0)  # dead again
    assert analyzer.on_timer(state, last + 9.0 + CONFIG.forget_seconds) == ([], True)


def test_status_records_become_insights_with_the_reason() -> None:
    cam = Camera()
    status = MediaRecord(v=1, stream_id="cam", seq=0, ts=5.0, kind="status", status="dropped",
                         error="rtmp://127.0.0.1:1935/live/x: End of file", source="rtmp")
    out = run([status])
    assert kinds(out) == ["dropped"] and out[0]["detail"]["error"].endswith("End of file")
    assert cam.stream_id == out[0]["stream_id"]


def test_hook_labels_become_hook_insights() -> None:
    label = MediaRecord(v=1, stream_id="cam", seq=3, ts=5.0, kind="label", pts=1.5,
                        hook="dtmf", label="transcript", text="159#", score=1.0)
    out = run([label])
    assert out[0]["detector"] == "hook" and out[0]["kind"] == "dtmf/transcript"
    assert out[0]["detail"]["text"] == "159#"


@pytest.mark.parametrize(("payload", "reason"), [
    (b"garbage", "invalid_json"),
    (b'{"v":1,"stream_id":"cam","seq":0,"ts":1,"kind":"video"}', "schema"),
    (b'{"v":3,"stream_id":"cam","seq":0,"ts":1,"kind":"video"}', "unsupported_version"),
    (b'{"v":1,"stream_id":"cam","seq":0,"ts":1,"kind":"status","status":"sleepy"}', "schema"),
    (b"x" * 20000, "oversize"),
    (None, "empty"),
])
def test_bad_records_go_to_the_dead_letter_topic_with_a_reason(payload: bytes | None,
                                                               reason: str) -> None:
    good = MediaRecord(v=1, stream_id="cam", seq=1, ts=2.0, kind="status", status="connected")
    raw = RawMessage(b"cam", payload, "midstream.media.features", 0, 41)
    out = run([raw, RawMessage(b"cam", encode_media_record(good), "t", 0, 42)])
    dead = [r for r in out if r["topic"] == Topics().dlq]
    assert [d["reason"] for d in dead] == [reason] and dead[0]["offset"] == 41
    assert kinds(out) == ["connected"]  # the stream goes on


def test_a_record_keyed_by_another_stream_is_a_dead_letter() -> None:
    record = MediaRecord(v=1, stream_id="cam", seq=0, ts=1.0, kind="status", status="connected")
    out = run([RawMessage(b"other", encode_media_record(record), "t", 0, 1)])
    assert [r["reason"] for r in out] == ["key_mismatch"]


def test_unkeyed_records_are_routed_by_their_stream_id() -> None:
    record = MediaRecord(v=1, stream_id="cam-9", seq=0, ts=1.0, kind="status",
                         status="connected")
    out = run([RawMessage(None, encode_media_record(record), "t", 0, 1)])
    assert out[0]["stream_id"] == "cam-9" and out[0]["kind"] == "connected"


def test_a_publisher_restart_starts_the_timeline_afresh() -> None:
    cam = Camera()
    first = list(cam.video(0, 3))
    restart = [r for r in Camera(start=1003.5).video(0, 3)]  # pts back to 0
    restart = [MediaRecord(**{**{f: getattr(r, f) for f in r.__struct_fields__},
                              "seq": 1000 + i}) for i, r in enumerate(restart)]
    out = run(first + restart)
    assert "freeze" not in kinds(out) and "fps_drop" not in kinds(out)
    starts = [r["detail"]["window_start_pts"] for r in out if r["kind"] == "video_window"]
    assert starts == [0.0, 1.0, 2.0, 0.0, 1.0]


def test_state_pickles_midway_and_resumes_identically() -> None:
    analyzer = MediaAnalyzer(CONFIG)
    cam = Camera()
    records = list(itertools.chain(cam.video(0, 1.5), cam.video(1.5, 4, motion=0.0)))
    state = analyzer.new_state("cam")
    twin = None
    found: list[Any] = []
    twin_found: list[Any] = []
    for i, r in enumerate(records):
        if i == 40:
            twin = pickle.loads(pickle.dumps(state))
        found += analyzer.on_record(state, r, r.ts)
        if twin is not None:
            twin_found += analyzer.on_record(twin, r, r.ts)
    assert [f[1].id for f in found if f[1].at_seq > 40] == [f[1].id for f in twin_found]


def test_reconnection_attempts_do_not_keep_a_dead_stream_alive() -> None:
    analyzer = MediaAnalyzer(CONFIG)
    state = analyzer.new_state("cam")
    records = list(Camera().video(0, 1))
    for r in records:
        analyzer.on_record(state, r, now=r.ts)
    last = records[-1].ts
    retry = MediaRecord(v=1, stream_id="cam", seq=999, ts=last + 2, kind="status",
                        status="reconnecting", error="Connection refused")
    assert [i.kind for i in only_insights(analyzer.on_record(state, retry, now=last + 2))] == \
        ["reconnecting"]
    fired, _ = analyzer.on_timer(state, last + 3.1)
    assert [i.kind for i in only_insights(fired)] == ["dead"]
