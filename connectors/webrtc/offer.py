"""SDP offers posted to the WebRTC ingest: read, parsed and validated before aiortc sees them.

``POST /offer`` takes JSON ``{"type": "offer", "sdp", "stream_id"?}`` or raw SDP
(``application/sdp``, stream id in the query). Everything here raises
:class:`~midstream.connectors.webrtc.exceptions.InvalidOffer` with a message that says
what is valid, and carries the stream id the sender asked for when that id is valid, so
the refusal can be reported under it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import orjson
from aiohttp import web

from midstream.connectors.webrtc.exceptions import InvalidOffer
from midstream.core.events import MAX_STREAM_ID_CHARS

__all__ = ["MAX_OFFER_BYTES", "Offer", "check_sdp", "check_stream_id", "parse_offer",
           "read_offer_body"]

MAX_OFFER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Offer:
    """A validated offer: its SDP text and the stream id the sender asked for (if any)."""

    sdp: str
    stream_id: str | None


def check_stream_id(stream_id: object) -> str:
    """Return a stream id as given, or raise :class:`InvalidOffer` saying what is valid.

    >>> check_stream_id("cam-1")
    'cam-1'
    >>> check_stream_id("")
    Traceback (most recent call last):
    ...
    midstream.connectors.webrtc.exceptions.InvalidOffer: stream_id must be a string of 1 to 256 characters
    """
    if not isinstance(stream_id, str) or not 1 <= len(stream_id) <= MAX_STREAM_ID_CHARS:
        raise InvalidOffer(f"stream_id must be a string of 1 to {MAX_STREAM_ID_CHARS} "
                           f"characters")
    return stream_id


def check_sdp(sdp: object) -> str:
    r"""Return the SDP text if it looks like an offer with audio or video, else raise :class:`InvalidOffer`.

    This is a cheap first check; aiortc's parser is the second one.

    >>> check_sdp("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    ...           "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")[:3]
    'v=0'
    >>> check_sdp("hello")
    Traceback (most recent call last):
    ...
    midstream.connectors.webrtc.exceptions.InvalidOffer: the offer is not SDP: it must start with 'v=0'
    """
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidOffer("the offer has no SDP: send {\"type\": \"offer\", \"sdp\": \"v=0...\"}"
                           " or the raw SDP as application/sdp")
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidOffer("the offer is not SDP: it must start with 'v=0'")
    media = [line.split()[0][2:] for line in sdp.splitlines()
             if line.startswith("m=") and line.split()]
    if not any(kind in ("audio", "video") for kind in media):
        raise InvalidOffer("the offer has no audio or video section (m=audio / m=video); "
                           "the ingest receives media only")
    return sdp


def parse_offer(body: bytes, content_type: str, query_stream_id: str | None = None, *,
                max_bytes: int = MAX_OFFER_BYTES) -> Offer:
    r"""Validate a ``POST /offer`` body: JSON ``{"type": "offer", "sdp", "stream_id"?}``, or raw SDP.

    With ``application/sdp``, the stream id comes from the query (``?stream_id=``);
    with JSON, from the body, else from the query.

    Raises
    ------
    InvalidOffer
        The body is too large, not JSON or SDP, not an offer, or has a bad stream id.

    Examples
    --------
    >>> sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    >>> parse_offer(orjson.dumps({"type": "offer", "sdp": sdp, "stream_id": "cam"}),
    ...             "application/json").stream_id
    'cam'
    >>> parse_offer(sdp.encode(), "application/sdp", "mic-2").stream_id
    'mic-2'
    >>> parse_offer(b'{"type": "answer", "sdp": "v=0"}', "application/json")
    Traceback (most recent call last):
    ...
    midstream.connectors.webrtc.exceptions.InvalidOffer: "type" must be "offer", not 'answer'
    """
    if len(body) > max_bytes:
        raise InvalidOffer(f"the offer is too large: the limit is {max_bytes} bytes")
    if not body.strip():
        raise InvalidOffer("the request body is empty: send {\"type\": \"offer\", \"sdp\": ...}")
    if content_type == "application/sdp":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidOffer("the SDP is not UTF-8 text") from None
        stream_id = None if query_stream_id is None else check_stream_id(query_stream_id)
        try:
            return Offer(check_sdp(text), stream_id)
        except InvalidOffer as exc:
            exc.stream_id = stream_id
            raise
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidOffer("the body is not JSON (or send the raw SDP with Content-Type: "
                           "application/sdp)") from None
    if not isinstance(message, dict):
        raise InvalidOffer("the body must be a JSON object {\"type\": \"offer\", \"sdp\": ...}")
    stream_id = message.get("stream_id", query_stream_id)
    try:
        if message.get("type") != "offer":
            raise InvalidOffer(f"\"type\" must be \"offer\", not {message.get('type')!r}")
        return Offer(check_sdp(message.get("sdp")),
                     None if stream_id is None else check_stream_id(stream_id))
    except InvalidOffer as exc:
        with contextlib.suppress(InvalidOffer):
            exc.stream_id = None if stream_id is None else check_stream_id(stream_id)
        raise


async def read_offer_body(request: web.Request, limit: int) -> bytes:
    """Read the request's body, or raise :class:`InvalidOffer` as soon as it is longer than ``limit``.

    The declared ``Content-Length`` is checked first; the body is then read in chunks
    and refused at the first byte beyond the limit, so a large upload is never held.
    """
    if request.content_length is not None and request.content_length > limit:
        raise InvalidOffer(f"the offer is too large: the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise InvalidOffer(f"the offer is too large: the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
