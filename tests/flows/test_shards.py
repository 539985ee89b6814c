"""Sharded state (flows/shards.py): the same results as one key per stream, cheaper snapshots."""

from __future__ import annotations

import pickle
import zlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import CollectorRegistry

from midstream.cli.sample_streams import demo_streams
from midstream.core import snapshots
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.metrics import LlmStreamMetrics
from midstream.flows.llm_stream import StreamLogic, build_flow
from midstream.flows.routing import DeadLetters
from midstream.flows.shards import ShardLogic, sharded
from midstream.flows.stream_analysis import StreamAnalyzer
from tests.streams import as_messages, token_stream

TOPICS = Topics()


def analyzer_with(shards: int) -> StreamAnalyzer:
    config = replace(AnalysisConfig(), state_shards=shards)
    return StreamAnalyzer.with_defaults(config, LlmStreamMetrics(CollectorRegistry()))


def records(out: list[Any]) -> dict[str, dict[str, Any]]:
    decoded = (orjson.loads(m.value) for m in out if m.topic != TOPICS.dlq)
    return {r["id"]: r for r in decoded}


def run(events: list[Any], shards: int) -> list[Any]:
    out: list[Any] = []
    run_main(build_flow(TestingSource(as_messages(events), 7), TestingSink(out),
                        analyzer=analyzer_with(shards), topics=TOPICS))
    return out


@pytest.mark.parametrize("shards", [1, 3, 256])
def test_sharded_results_equal_one_key_per_stream(shards: int) -> None:
    events = sorted((e for i in range(4) for e in
                     ({**x, "stream_id": f"{x['stream_id']}-{i}"} for x in demo_streams(t0=1000.0 + i))),
                    key=lambda e: (e["ts"], e["stream_id"], e["seq"]))
    reference = records(run(events, 0))
    assert reference and records(run(events, shards)) == reference


def test_each_streams_output_keeps_its_order_in_one_shard() -> None:
    events = [*token_stream("a", [" x"] * 30), *token_stream("b", [" y"] * 30)]
    out = run(sorted(events, key=lambda e: (e["ts"], e["stream_id"])), 1)
    for stream in ("a", "b"):
        seqs = [orjson.loads(m.value).get("at_seq", -1) for m in out
                if m.key == stream.encode() and m.topic != TOPICS.dlq]
        assert seqs == sorted(seqs)


def test_recovery_with_every_stream_in_one_shard_resumes_with_the_same_results(tmp_path) -> None:
    events = demo_streams(t0=1000.0)
    reference = records(run(events, 1))
    init_db_dir(tmp_path, 1)
    half = len(events) // 2
    items = [*as_messages(events[:half]), TestingSource.ABORT(), *as_messages(events)[half:]]
    out: list[Any] = []
    flow = build_flow(TestingSource(items, 10), TestingSink(out), analyzer=analyzer_with(1),
                      topics=TOPICS)
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # stops at ABORT
    assert records(out).keys() < reference.keys()
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert records(out) == reference


class _Logics:
    """Stream logics of the real flow, with a clock the test moves and counted snapshots."""

    def __init__(self) -> None:
        self.analyzer = analyzer_with(1)
        self.now = 1000.0
        self.dead = DeadLetters(TOPICS.dlq, self.analyzer.metrics.dead_letters, self.clock)
        self.pickles: list[str] = []

    def clock(self) -> float:
        return self.now

    def __call__(self, state: Any) -> StreamLogic:
        logic = StreamLogic(self.analyzer, TOPICS, self.dead, self.clock, state)
        taken = self.pickles
        plain = logic.snapshot

        def counted() -> bytes | None:
            taken.append(logic.stream_id)
            return plain()

        logic.snapshot = counted  # type: ignore[method-assign]
        return logic


def _payloads(stream_id: str, pieces: list[str], first_seq: int = 0) -> list[Any]:
    events = token_stream(stream_id, pieces, first_seq=first_seq, end=False)
    if first_seq:
        events = events[1:]  # no second start
    return [(stream_id, m.value, None, None, None, stream_id.encode())
            for m in as_messages(events)]


def test_a_snapshot_re_takes_only_the_streams_that_changed() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=True)
    shard.on_batch([*_payloads("a", [" one", " two"]), *_payloads("b", [" three"])])
    first = pickle.loads(shard.snapshot() or b"")
    assert set(first) == {"a", "b"}
    logics.pickles.clear()
    logics.now += 0.01  # busy: no eager pickling
    shard.on_batch(_payloads("a", [" four"], first_seq=3))
    second = pickle.loads(shard.snapshot() or b"")
    assert logics.pickles == ["a"]  # b's bytes were kept
    assert second["b"] == first["b"] and second["a"] != first["a"]
    restored = snapshots.restore(zlib.decompress(second["a"]))
    assert restored.stream_id == "a" and restored.last_seq == 4


def test_stored_pickles_are_compressed_and_uncompressed_ones_still_restore() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=True)
    shard.on_batch([*_payloads("a", [" one"]), *_payloads("b", [" two"])])
    shard.snapshot()
    logics.now += 5.0  # idle for longer than EAGER_SNAPSHOT_GAP: "a" is pickled at its event
    shard.on_batch(_payloads("a", [" three"], first_seq=2))
    taken = shard.snapshot() or b""
    stored = pickle.loads(taken)
    assert stored["a"][:1] != b"\x80" and stored["b"][:1] != b"\x80"
    assert snapshots.restore(zlib.decompress(stored["a"])).last_seq == 3
    resumed = sharded(logics, snapshots_on=True)(taken)
    assert {k: getattr(v.state, "last_seq", None) for k, v in resumed.streams.items()} == {
        "a": 3, "b": 1}
    # Written by a version that stored pickles taken at the epoch's boundary uncompressed:
    stored["b"] = zlib.decompress(stored["b"])
    resumed = sharded(logics, snapshots_on=True)(pickle.dumps(stored))
    assert {k: getattr(v.state, "last_seq", None) for k, v in resumed.streams.items()} == {
        "a": 3, "b": 1}


def test_a_shard_restores_from_its_snapshot_and_from_an_old_single_stream_one() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=True)
    shard.on_batch([*_payloads("a", [" one"]), *_payloads("b", [" two"])])
    build = sharded(logics, snapshots_on=True)
    taken = shard.snapshot()
    again = build(taken)
    assert set(again.streams) == {"a", "b"}
    logics.pickles.clear()
    assert again.snapshot() == taken and logics.pickles == []  # unchanged: not re-pickled
    restored, original = again.streams["a"].state, shard.streams["a"].state
    assert restored is not None and original is not None
    assert restored.last_seq == original.last_seq
    old = snapshots.snapshot(shard.streams["b"].state)  # how one key per stream stored it
    assert set(build(old).streams) == {"b"}


def test_timers_of_all_streams_come_through_one_notification() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=False)
    shard.on_batch([*_payloads("a", [" one"]), *_payloads("b", [" two"])])
    first = shard.notify_at()
    assert first is not None and first == min(shard._due.values())
    # The clock is far behind Bytewax's: every timer is due, both streams' run.
    logics.now += 10_000
    out, _ = shard.on_notify()
    assert {m.key for m in out} == {b"a", b"b"}


def test_the_timer_heap_stays_bounded_however_many_events_move_a_timer() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=False)
    shard.on_batch(_payloads("a", [" zero"]))
    for seq in range(2, 3000):
        logics.now += 0.05
        shard.on_batch(_payloads("a", [" w"], first_seq=seq))
    assert len(shard._heap) <= 2 * len(shard._due) + 65


def test_a_stream_that_breaks_outside_its_events_is_reset_alone() -> None:
    logics = _Logics()
    shard = ShardLogic(logics, snapshots=True)
    shard.on_batch([*_payloads("a", [" one"]), *_payloads("b", [" two"])])

    def broken(values: list[Any]) -> Any:
        raise RuntimeError("boom")

    shard.streams["a"].on_batch = broken  # type: ignore[method-assign]
    out, verdict = shard.on_batch([*_payloads("a", [" x"], first_seq=2),
                                   *_payloads("b", [" y"], first_seq=2)])
    dead = [orjson.loads(m.value) for m in out if m.topic == TOPICS.dlq]
    assert [d["reason"] for d in dead] == ["analysis_error"]
    assert "RuntimeError" in dead[0]["error"]
    assert set(shard.streams) == {"b"} and verdict == shard.RETAIN
