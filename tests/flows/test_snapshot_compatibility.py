"""Per-stream snapshots written before the namespace change resume after it.

``data/pre_namespace_snapshots.pickle`` was written by the code of commit
6967b2f (``data/make_pre_namespace_snapshots.py``): the sample LLM streams
half-way and a media stream half-way, pickled as a recovery directory of that
version holds them, with bare module paths (``flows.stream_analysis``,
``operators.regime``, ...). Restored with today's code, each stream must go on
exactly as the same prefix fed to today's code would.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import orjson

from midstream.cli.sample_streams import REPLAY_FILE
from midstream.core import events, snapshots
from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord, parse_media_record
from midstream.flows.media_analysis import MediaAnalyzer, MediaState
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState

FIXTURE = Path(__file__).parent / "data" / "pre_namespace_snapshots.pickle"


def _fixture() -> dict[str, Any]:
    with FIXTURE.open("rb") as data:
        return pickle.load(data)  # only our own bytes; the states inside stay pickled


def _token(raw: dict[str, Any]) -> events.TokenEvent:
    event = events.parse_token_event(orjson.dumps(raw))
    assert isinstance(event, events.TokenEvent), event
    return event


def _outputs(out: list[Any]) -> list[tuple[str, bytes]]:
    return [(topic, events.encode(record)) for topic, record in out]


def test_the_fixture_names_the_old_module_paths() -> None:
    raw = b"".join(_fixture()["llm"].values())
    assert b"flows.stream_analysis" in raw and b"midstream.flows" not in raw
    assert b"operators.regime" in raw


def test_llm_streams_snapshotted_before_the_rename_go_on_as_if_never_stopped() -> None:
    fixture = _fixture()
    lines = [orjson.loads(line) for line in REPLAY_FILE.read_bytes().splitlines() if line]
    analyzer = StreamAnalyzer.with_defaults()
    assert len(fixture["llm"]) >= 8
    for stream_id, old in fixture["llm"].items():
        mine = [e for e in lines if e["stream_id"] == stream_id]
        cut = int(len(mine) * fixture["prefix"])
        restored = snapshots.restore(old)
        # Today's classes, not copies imported under the bare names (which a checkout allows).
        assert type(restored) is StreamState
        fresh = analyzer.new_state(stream_id)
        for raw in mine[:cut]:
            analyzer.on_event(fresh, _token(raw), raw["ts"])
        for raw in mine[cut:]:
            event = _token(raw)
            assert _outputs(analyzer.on_event(restored, event, raw["ts"])) == _outputs(
                analyzer.on_event(fresh, event, raw["ts"])), stream_id


def test_a_media_stream_snapshotted_before_the_rename_goes_on_as_if_never_stopped() -> None:
    analyzer = MediaAnalyzer(MediaConfig(regime_window=32, regime_every=8))
    fixture = _fixture()
    parsed = [parse_media_record(raw) for raw in fixture["media_records"]]
    records = [r for r in parsed if isinstance(r, MediaRecord)]
    assert len(records) == len(parsed) > 100
    cut = len(records) // 2
    restored = snapshots.restore(fixture["media"])
    assert type(restored) is MediaState
    fresh = analyzer.new_state("cam")
    for record in records[:cut]:
        analyzer.on_record(fresh, record, record.ts)
    produced = 0
    for record in records[cut:]:
        mine = _outputs(analyzer.on_record(restored, record, record.ts))
        assert mine == _outputs(analyzer.on_record(fresh, record, record.ts))
        produced += len(mine)
    assert produced > 0
