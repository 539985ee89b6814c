"""connectors/webrtc/offer.py: parsing and validation of posted SDP offers."""

from __future__ import annotations

import orjson
import pytest

from midstream.connectors.webrtc.exceptions import InvalidOffer
from midstream.connectors.webrtc.offer import MAX_OFFER_BYTES, check_sdp, parse_offer

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def test_json_offer() -> None:
    offer = parse_offer(orjson.dumps({"type": "offer", "sdp": SDP, "stream_id": "cam-1"}),
                        "application/json")
    assert (offer.sdp, offer.stream_id) == (SDP, "cam-1")


def test_json_offer_takes_the_query_stream_id_when_the_body_has_none() -> None:
    body = orjson.dumps({"type": "offer", "sdp": SDP})
    assert parse_offer(body, "application/json", "q-1").stream_id == "q-1"
    assert parse_offer(body, "application/json").stream_id is None


def test_raw_sdp_offer() -> None:
    offer = parse_offer(SDP.encode(), "application/sdp", "mic")
    assert (offer.sdp, offer.stream_id) == (SDP, "mic")


@pytest.mark.parametrize("body,content_type,message", [
    (b"", "application/json", "empty"),
    (b"  \n", "application/sdp", "empty"),
    (b"garbage", "application/json", "not JSON"),
    (b"[1, 2]", "application/json", "JSON object"),
    (orjson.dumps({"type": "answer", "sdp": SDP}), "application/json", '"type" must be'),
    (orjson.dumps({"sdp": SDP}), "application/json", '"type" must be'),
    (orjson.dumps({"type": "offer"}), "application/json", "no SDP"),
    (orjson.dumps({"type": "offer", "sdp": 5}), "application/json", "no SDP"),
    (orjson.dumps({"type": "offer", "sdp": "hello"}), "application/json", "not SDP"),
    (b"hello", "application/sdp", "not SDP"),
    (b"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "application/sdp",
     "no audio or video"),
    (b"\xff\xfe", "application/sdp", "not UTF-8"),
    (orjson.dumps({"type": "offer", "sdp": SDP, "stream_id": ""}), "application/json",
     "stream_id"),
    (orjson.dumps({"type": "offer", "sdp": SDP, "stream_id": "x" * 257}), "application/json",
     "stream_id"),
    (orjson.dumps({"type": "offer", "sdp": SDP, "stream_id": 7}), "application/json",
     "stream_id"),
])
def test_bad_offers(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvalidOffer, match=message) as raised:
        parse_offer(body, content_type)
    assert (raised.value.status, raised.value.type) == (400, "invalid_offer")


def test_stream_id_limits() -> None:
    body = orjson.dumps({"type": "offer", "sdp": SDP, "stream_id": "x" * 256})
    assert parse_offer(body, "application/json").stream_id == "x" * 256
    with pytest.raises(InvalidOffer, match="stream_id"):
        parse_offer(SDP.encode(), "application/sdp", "")


def test_a_refused_offer_names_the_valid_stream_id_it_asked_for() -> None:
    with pytest.raises(InvalidOffer) as raised:
        parse_offer(orjson.dumps({"type": "answer", "sdp": SDP, "stream_id": "cam"}),
                    "application/json")
    assert raised.value.stream_id == "cam"
    with pytest.raises(InvalidOffer) as raised:
        parse_offer(b"nope", "application/sdp", "mic")
    assert raised.value.stream_id == "mic"


def test_oversized_offer() -> None:
    with pytest.raises(InvalidOffer, match="too large"):
        parse_offer(b"v=0" + b" " * MAX_OFFER_BYTES, "application/sdp")


def test_check_sdp_accepts_leading_whitespace() -> None:
    assert check_sdp("\r\n" + SDP)
