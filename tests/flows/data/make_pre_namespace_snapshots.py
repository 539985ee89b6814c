"""Write the snapshot fixture with the code from before the namespace change (commit 6967b2f).

Run from a checkout of that commit: ``python make_pre_namespace_snapshots.py OUT``.
It keeps the bare module names of that time (``flows.*``, ``operators.*``,
``midstream.config``), which is the point: the fixture holds what a recovery
directory of that version holds. Not imported by the tests.
"""

import itertools
import pickle
import sys

import orjson

from flows.media_analysis import MediaAnalyzer
from flows.stream_analysis import StreamAnalyzer
from midstream import events
from midstream.config import MediaConfig
from midstream.media_events import MediaRecord, encode_media_record
from midstream.sample_streams import REPLAY_FILE

PREFIX = 0.5  # share of each stream's events fed before the snapshot


def llm_states() -> dict[str, bytes]:
    lines = [orjson.loads(line) for line in REPLAY_FILE.read_bytes().splitlines() if line]
    analyzer = StreamAnalyzer.with_defaults()
    states: dict[str, bytes] = {}
    for stream_id in sorted({e["stream_id"] for e in lines}):
        mine = [e for e in lines if e["stream_id"] == stream_id]
        state = analyzer.new_state(stream_id)
        for raw in mine[: int(len(mine) * PREFIX)]:
            event = events.parse_token_event(orjson.dumps(raw))
            analyzer.on_event(state, event, raw["ts"])
        states[stream_id] = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return states


def media_records() -> list[MediaRecord]:
    seq = itertools.count()
    out = []
    for i in range(150):
        pts = i / 25
        out.append(MediaRecord(v=1, stream_id="cam", seq=next(seq), ts=1000.0 + pts, kind="video",
                               pts=round(pts, 6), width=320, height=240, luma=120.0,
                               motion=4.0 + (i % 7), black=False))
        for j in range(2):
            apts = pts + j * 0.02
            out.append(MediaRecord(v=1, stream_id="cam", seq=next(seq), ts=1000.0 + apts,
                                   kind="audio", pts=round(apts, 6), duration=0.02,
                                   sample_rate=48000, rms_dbfs=-20.0 - (i % 5), voice=i % 9 != 0,
                                   clipped=0.0))
    return out


def media_state() -> bytes:
    analyzer = MediaAnalyzer(MediaConfig(regime_window=32, regime_every=8))
    state = analyzer.new_state("cam")
    records = media_records()
    for record in records[: len(records) // 2]:
        analyzer.on_record(state, record, record.ts)
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    fixture = {"llm": llm_states(), "media": media_state(), "prefix": PREFIX,
               "media_records": [encode_media_record(r) for r in media_records()]}
    with open(sys.argv[1], "wb") as out:
        pickle.dump(fixture, out, protocol=pickle.HIGHEST_PROTOCOL)
