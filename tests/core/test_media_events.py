"""The media feature record contract: round trips, required fields per kind, rejections."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from midstream.core.events import Invalid
from midstream.core.media_events import (
    STATUSES,
    MediaRecord,
    encode_media_record,
    parse_media_record,
)


@given(st.text(min_size=1, max_size=256), st.integers(0, 2**40),
       st.floats(allow_nan=False, allow_infinity=False), st.floats(0, 1e6),
       st.floats(0, 255), st.floats(0, 255), st.booleans())
def test_video_records_round_trip(stream_id: str, seq: int, ts: float, pts: float, luma: float,
                                  motion: float, black: bool) -> None:
    record = MediaRecord(v=1, stream_id=stream_id, seq=seq, ts=ts, kind="video", pts=pts,
                         width=640, height=480, luma=luma, motion=motion, black=black)
    assert parse_media_record(encode_media_record(record)) == record


def test_encoding_leaves_out_the_other_kinds_fields() -> None:
    record = MediaRecord(v=1, stream_id="m", seq=0, ts=1.0, kind="audio", pts=0.0,
                         duration=0.02, rms_dbfs=-20.0, voice=True)
    assert b"luma" not in encode_media_record(record)
    assert b'"v":1' in encode_media_record(record)


@pytest.mark.parametrize(("kind", "missing"), [("video", "luma"), ("audio", "voice"),
                                               ("status", "status"), ("label", "hook")])
def test_each_kind_needs_its_fields(kind: str, missing: str) -> None:
    fields = {"video": '"pts":0,"width":1,"height":1,"luma":1,"motion":0',
              "audio": '"pts":0,"duration":0.02,"rms_dbfs":-3,"voice":true',
              "status": '"status":"connected"', "label": '"hook":"h","label":"x"'}[kind]
    complete = f'{{"v":1,"stream_id":"m","seq":0,"ts":1,"kind":"{kind}",{fields}}}'
    assert isinstance(parse_media_record(complete.encode()), MediaRecord)
    broken = json.loads(complete)
    del broken[missing]
    result = parse_media_record(json.dumps(broken).encode())
    assert isinstance(result, Invalid) and result.reason == "schema"
    assert f"'{missing}'" in result.error


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "invalid_json"), (b"[1]", "schema"), (b'{"v":2,"stream_id":"m"}', "unsupported_version"),
    (b'{"stream_id":"m","seq":0,"ts":1,"kind":"status","status":"ended"}', "schema"),
    (b'{"v":1,"stream_id":"","seq":0,"ts":1,"kind":"status","status":"ended"}', "schema"),
    (b'{"v":1,"stream_id":"m","seq":-1,"ts":1,"kind":"status","status":"ended"}', "schema"),
])
def test_bad_payloads_are_explained(payload: bytes, reason: str) -> None:
    result = parse_media_record(payload)
    assert isinstance(result, Invalid) and result.reason == reason


def test_every_status_parses() -> None:
    for status in STATUSES:
        payload = f'{{"v":1,"stream_id":"m","seq":0,"ts":1,"kind":"status","status":"{status}"}}'
        assert isinstance(parse_media_record(payload.encode()), MediaRecord)
