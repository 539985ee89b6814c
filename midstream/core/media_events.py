"""Media feature records (contract v1): what the media connectors send to the media flow.

Decoded frames never travel through the dataflow. The connectors (WebRTC,
RTMP, HLS) turn each frame into one compact :class:`MediaRecord` at the edge,
and publish it to the topic ``midstream.media.features`` keyed by stream id, or
hand it to an in-process Bytewax source. One record is one fact:

* ``kind="video"``: one decoded video frame: size, mean luma, motion, black,
  and the actual fps and frame-interval jitter so far;
* ``kind="audio"``: one 20 ms window of audio: level in dBFS, voice activity,
  clipping;
* ``kind="status"``: the connection: ``connected``, ``dropped``,
  ``reconnecting``, ``ended`` or ``error`` (with ``error`` saying why);
* ``kind="label"``: what a per-stream hook found (a transcript, a tone, an
  object), with ``hook``, ``label``, ``text`` and ``score``.

``pts`` is the media timestamp in seconds (``frame.time``), kept from the
source. ``ts`` is the wall-clock time at which the edge made the record.

Examples
--------
>>> record = MediaRecord(v=1, stream_id="cam-1", seq=0, ts=10.0, kind="video", source="rtmp",
...                      pts=0.04, width=320, height=240, luma=118.5, motion=3.25, black=False)
>>> parse_media_record(encode_media_record(record)) == record
True
>>> parse_media_record(b'{"v":1,"stream_id":"cam-1","seq":0,"ts":1,"kind":"smell"}').reason
'schema'
>>> parse_media_record(b'{"v":1,"stream_id":"cam-1","seq":0,"ts":1,"kind":"video"}').error
"a 'video' record needs 'pts', 'width', 'height', 'luma' and 'motion'"
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from midstream.core.events import (
    DEFAULT_MAX_EVENT_BYTES,
    MAX_INT,
    MAX_STREAM_ID_CHARS,
    Invalid,
    Seq,
    decode_checked,
)

MediaKind = Literal["video", "audio", "status", "label"]
Count = Annotated[int, msgspec.Meta(ge=-MAX_INT, le=MAX_INT)]
"""A 64-bit integer field (sizes, rates): bigger ones are schema errors, not analysis errors."""
STATUSES = frozenset({"connected", "dropped", "reconnecting", "ended", "error"})


class MediaRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One feature record of a media stream (topic ``midstream.media.features``).

    Unknown fields are ignored, so v1 producers may add fields; fields of the
    other kinds are left out of the JSON (``omit_defaults``).
    """

    v: Literal[1]
    stream_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STREAM_ID_CHARS)]
    seq: Seq
    ts: float
    kind: MediaKind
    source: str | None = None
    pts: float | None = None
    # video
    width: Count | None = None
    height: Count | None = None
    luma: float | None = None
    motion: float | None = None
    black: bool | None = None
    fps: float | None = None
    jitter: float | None = None
    resolution_changed: bool | None = None
    # audio: one window
    duration: float | None = None
    sample_rate: Count | None = None
    rms_dbfs: float | None = None
    voice: bool | None = None
    clipped: float | None = None
    noise_floor_dbfs: float | None = None
    # status
    status: str | None = None
    error: str | None = None
    # label (hooks)
    hook: str | None = None
    label: str | None = None
    text: str | None = None
    score: float | None = None
    meta: dict[str, Any] | None = None


_REQUIRED: dict[str, tuple[str, ...]] = {
    "video": ("pts", "width", "height", "luma", "motion"),
    "audio": ("pts", "duration", "rms_dbfs", "voice"),
    "status": ("status",),
    "label": ("hook", "label"),
}
_DECODER = msgspec.json.Decoder(MediaRecord)
_ENCODER = msgspec.json.Encoder()


def _missing_fields(record: MediaRecord) -> Invalid | None:
    needed = _REQUIRED[record.kind]
    if any(getattr(record, name) is None for name in needed):
        names = [f"'{n}'" for n in needed]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return Invalid("schema", f"a '{record.kind}' record needs {listed}")
    if record.kind == "status" and record.status not in STATUSES:
        return Invalid("schema", f"unknown status {record.status!r}; "
                                 f"expected one of {', '.join(sorted(STATUSES))}")
    return None


def parse_media_record(
    payload: bytes | None, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> MediaRecord | Invalid:
    """Parse and validate one media feature record.

    Returns the record, or an :class:`~midstream.core.events.Invalid` naming the first problem.

    Examples
    --------
    >>> parse_media_record(b'{"v":1,"stream_id":"m","seq":3,"ts":2.0,"kind":"status",'
    ...                    b'"status":"dropped","error":"Connection refused"}').status
    'dropped'
    >>> parse_media_record(b'{"v":2}').reason
    'unsupported_version'
    """
    record = decode_checked(_DECODER, payload, max_bytes)
    if isinstance(record, Invalid):
        return record
    return _missing_fields(record) or record


def encode_media_record(record: MediaRecord) -> bytes:
    """Serialise a record as compact JSON, leaving out the fields it does not use.

    Examples
    --------
    >>> encode_media_record(MediaRecord(v=1, stream_id="m", seq=1, ts=2.0, kind="status",
    ...                                 status="connected"))
    b'{"v":1,"stream_id":"m","seq":1,"ts":2.0,"kind":"status","status":"connected"}'
    """
    return _ENCODER.encode(record)
