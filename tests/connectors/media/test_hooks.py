"""The hook interface end to end: real lavfi media, real decoding, the shipped hooks, the flow."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
from bytewax.testing import TestingSink, TestingSource, run_main

from midstream.connectors.media.dtmf_hook import DtmfTranscriber
from midstream.connectors.media.features import FeatureTap
from midstream.connectors.media.hooks import Label
from midstream.connectors.media.motion_hook import MovingObjectDetector
from midstream.connectors.media.synthetic import LavfiPlayer
from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media import build_flow
from midstream.flows.media_analysis import MediaAnalyzer

TONES = {"1": (697, 1209), "5": (770, 1336), "9": (852, 1477), "#": (941, 1477)}


def dtmf_expression(digits: str, on: float = 0.1, off: float = 0.1) -> str:
    """An aevalsrc expression that dials ``digits`` (``on`` s per key, ``off`` s between)."""
    terms = []
    for i, digit in enumerate(digits):
        low, high = TONES[digit]
        start = i * (on + off)
        terms.append(f"between(t,{start:g},{start + on - 0.001:g})*0.25*"
                     f"(sin(2*PI*{low}*t)+sin(2*PI*{high}*t))")
    return "+".join(terms)


GRAPH = (
    "color=c=black:s=320x240:r=25:d=3[bg];testsrc=s=60x60:r=25:d=3[fg];"
    "[bg][fg]overlay=x='20+t*80':y=90:shortest=1[out0];"
    f"aevalsrc='{dtmf_expression('159#')}':s=48000:d=3[out1]"
)


def play(hooks: list[object]) -> list[MediaRecord]:
    records: list[MediaRecord] = []
    tap = FeatureTap("phone-1", "lavfi", records.append, hooks=hooks)
    LavfiPlayer(GRAPH, tap, speed=0).run(threading.Event())
    return records


def test_dtmf_transcriber_reads_the_dialled_digits_from_decoded_audio() -> None:
    labels = [r for r in play([DtmfTranscriber(pause_seconds=0.5)]) if r.kind == "label"]
    assert [r.text for r in labels if r.label == "digit"] == list("159#")
    starts = [r.pts or 0.0 for r in labels if r.label == "digit"]
    assert np.allclose(starts, [0.0, 0.2, 0.4, 0.6], atol=0.021)
    (transcript,) = [r for r in labels if r.label == "transcript"]
    assert transcript.text == "159#" and transcript.hook == "dtmf"


def test_moving_object_detector_follows_the_moving_pattern() -> None:
    labels = [r for r in play([MovingObjectDetector(frame_interval=0.5)]) if r.kind == "label"]
    assert len(labels) >= 4  # one comparison every 0.5 s over 3 s
    for label in labels:
        box = label.meta or {}
        # The 60x60 pattern moves right at 80 px/s; two sampled frames 0.5 s apart span
        # from its old to its new place.
        assert 75 <= box["y"] <= 95 and box["height"] <= 70
        left = 20 + 80 * ((label.pts or 0.0) - 0.5)
        assert abs(box["x"] - left) <= 10 and 90 <= box["width"] <= 110


def test_a_failing_hook_is_reported_and_the_stream_goes_on() -> None:
    class Broken:
        name = "broken"

        def on_audio(self, pts: float, samples: np.ndarray, rate: int) -> list[Label]:
            raise RuntimeError("model file missing")

    records = play([Broken()])
    errors = [r for r in records if r.kind == "label"]
    assert errors and all(r.label == "hook_error" for r in errors)
    assert "model file missing" in (errors[0].text or "")
    assert sum(r.kind == "video" for r in records) == 75


def test_hook_labels_reach_the_insight_stream_through_the_flow() -> None:
    records = play([DtmfTranscriber(pause_seconds=0.5)])
    out: list[Any] = []
    run_main(build_flow(TestingSource(records), TestingSink(out),
                        analyzer=MediaAnalyzer(MediaConfig(regime_window=0))))
    insights = [orjson.loads(m.value) for m in out]
    hooks = [(i["kind"], i["detail"]["text"]) for i in insights if i["detector"] == "hook"]
    assert ("dtmf/transcript", "159#") in hooks
    assert [t for k, t in hooks if k == "dtmf/digit"] == list("159#")
