"""SessionTap on its own: audio formats, the played-audio estimate, stop outcomes, disconnects."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from midstream.connectors.openai.realtime import RelayMetrics, SessionTap
from tests.connectors.openai.test_tap import RecordingProducer
from tests.doubles.openai_upstream.realtime import tone

CHUNK = base64.b64encode(tone(100, 440, 0.5)).decode()  # 100 ms of PCM16 at 24 kHz


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_tap() -> tuple[SessionTap, list[str], RecordingProducer, CollectorRegistry, Clock]:
    sent: list[str] = []
    producer = RecordingProducer()
    registry = CollectorRegistry()
    clock = Clock()
    tap = SessionTap(producer=producer, topic="t", connection_id="c",  # type: ignore[arg-type]
                     send_upstream=sent.append, schedule=lambda call: call(),
                     metrics=RelayMetrics(registry), monotonic=clock)
    return tap, sent, producer, registry, clock


def audio(response_id: str = "r1", item_id: str = "i1", delta: str = CHUNK) -> dict[str, Any]:
    return {"type": "response.output_audio.delta", "response_id": response_id,
            "item_id": item_id, "content_index": 0, "delta": delta}


def test_played_audio_is_bounded_by_relayed_audio_and_elapsed_time() -> None:
    tap, sent, _, _, clock = make_tap()
    tap.on_upstream({"type": "response.created", "response": {"id": "r1"}})
    for _ in range(5):
        tap.on_upstream(audio())  # 500 ms relayed at once (faster than real time)
    clock.now += 0.2  # ...but only 200 ms have been playing
    commands = tap.stop("r1", "policy")
    assert [c["type"] for c in commands] == ["response.cancel", "conversation.item.truncate"]
    assert commands[1]["audio_end_ms"] == 200
    assert [json.loads(s) for s in sent] == commands
    tap2, _, _, _, clock2 = make_tap()
    tap2.on_upstream(audio())
    clock2.now += 5.0  # long after the only 100 ms chunk: played all of it
    assert tap2.stop("r1", "x")[1]["audio_end_ms"] == 100


def test_stop_outcomes_and_suppression() -> None:
    tap, sent, _, registry, _ = make_tap()
    assert tap.stop("nope", "x") == []
    tap.on_upstream({"type": "response.created", "response": {"id": "r1"}})
    text = {"type": "response.text.delta", "response_id": "r1", "delta": "Hi"}
    assert tap.admit(text) and not tap.holding_back
    assert [c["type"] for c in tap.stop("r1", "x")] == ["response.cancel"]  # no audio: no truncate
    assert tap.stop("r1", "again") == []
    assert tap.holding_back
    assert not tap.admit(text) and not tap.admit(audio())
    assert tap.admit({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}})
    tap.on_upstream({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}})
    assert not tap.holding_back
    for outcome, count in (("not_live", 1), ("already_stopped", 1), ("cancel_sent", 1)):
        assert registry.get_sample_value("midstream_realtime_stops_total",
                                         {"outcome": outcome}) == count
    assert registry.get_sample_value("midstream_realtime_suppressed_deltas_total") == 2
    assert len(sent) == 1


def test_g711_sessions_count_8khz_bytes_and_report_no_level() -> None:
    tap, _, producer, registry, _ = make_tap()
    tap.on_upstream({"type": "session.updated", "session": {
        "id": "sess_1", "model": "gpt-realtime",
        "audio": {"output": {"format": {"type": "audio/pcmu"}}}}})
    tap.on_upstream(audio(delta=base64.b64encode(bytes(800)).decode()))  # 100 ms at 8 kHz
    tap.on_upstream({"type": "response.output_audio_transcript.delta", "response_id": "r1",
                     "delta": "Hi"})
    events = producer.events()
    assert events[1]["meta"]["audio"] == {"chunks": 1, "bytes": 800, "seconds": 0.1,
                                          "rms_dbfs": None}
    assert events[0]["model"] == "gpt-realtime"
    assert events[0]["meta"]["session_id"] == "sess_1"
    assert registry.get_sample_value("midstream_realtime_audio_seconds_total",
                                     {"direction": "output"}) == pytest.approx(0.1)


def test_disconnect_ends_live_responses_and_stragglers_are_not_tapped() -> None:
    tap, _, producer, _, _ = make_tap()
    tap.on_upstream({"type": "response.text.delta", "response_id": "r1", "delta": "a"})
    tap.on_upstream({"type": "response.done", "response": {"id": "r1", "status": "completed"}})
    assert tap.on_upstream({"type": "response.text.delta", "response_id": "r1", "delta": "b"})
    tap.on_upstream({"type": "response.text.delta", "response_id": "r2", "delta": "c"})
    tap.close()
    kinds = [(e["stream_id"][-2:], e["kind"]) for e in producer.events()]
    assert kinds == [("r1", "start"), ("r1", "delta"), ("r1", "end"),
                     ("r2", "start"), ("r2", "delta"), ("r2", "end")]
    assert producer.events()[-1]["meta"]["finish_reason"] == "disconnected"
    assert tap.on_upstream({"type": "x"}) is True  # unknown types pass through
