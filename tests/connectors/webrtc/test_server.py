"""connectors/webrtc/server.py: refusals, limits and peer lifecycle (offer parsing: test_offer.py).

The peers here only negotiate (an aiortc offer that never connects); media from
real peers is tested in tests/integration/test_webrtc_ingest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from midstream.connectors.webrtc.exceptions import WebRtcConfigError
from midstream.connectors.webrtc.offer import MAX_OFFER_BYTES
from midstream.connectors.webrtc.server import REJECTED_STREAM_ID, WebRtcIngest
from midstream.core.media_events import MediaRecord, encode_media_record, parse_media_record

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def test_bad_settings() -> None:
    with pytest.raises(WebRtcConfigError, match="max_peers"):
        WebRtcIngest(lambda r: None, max_peers=0)
    with pytest.raises(WebRtcConfigError, match="not an IP"):
        WebRtcIngest(lambda r: None, host_addresses=("example.org",))
    with pytest.raises(WebRtcConfigError, match="must look like"):
        WebRtcIngest(lambda r: None, ice_servers=("example.org:3478",))


# -- the server -------------------------------------------------------------------------------

Records = list[MediaRecord]


def _run(test: Callable[[WebRtcIngest, Records, aiohttp.ClientSession], Awaitable[None]],
         **settings: Any) -> Records:
    """Run ``test`` against a started ingest; every record must survive the wire format."""
    records: Records = []

    def emit(record: MediaRecord) -> None:
        assert parse_media_record(encode_media_record(record)) == record
        records.append(record)

    async def main() -> None:
        ingest = WebRtcIngest(emit, host_addresses=("127.0.0.1",), **settings)
        await ingest.start()
        try:
            async with aiohttp.ClientSession() as session:
                await test(ingest, records, session)
        finally:
            await ingest.stop()

    asyncio.run(main())
    return records


async def _real_offer(kinds: tuple[str, ...] = ("video", "audio")) -> tuple[RTCPeerConnection,
                                                                           str]:
    pc = RTCPeerConnection()
    for kind in kinds:
        pc.addTransceiver(kind, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    return pc, pc.localDescription.sdp


async def _post(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.post(url + "/offer", **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def _statuses(records: Records) -> list[tuple[str, str | None]]:
    return [(r.stream_id, r.status) for r in records if r.kind == "status"]


@pytest.mark.parametrize("kwargs,stream_id", [
    ({"data": b"garbage", "headers": {"Content-Type": "application/json"}}, REJECTED_STREAM_ID),
    ({"data": b"", "headers": {"Content-Type": "application/json"}}, REJECTED_STREAM_ID),
    ({"json": {"type": "answer", "sdp": SDP, "stream_id": "s1"}}, "s1"),
    ({"json": {"type": "offer", "sdp": "nope", "stream_id": "s1"}}, "s1"),
    ({"json": {"type": "offer", "sdp": "nope", "stream_id": ""}}, REJECTED_STREAM_ID),
    ({"json": {"type": "offer", "sdp": SDP, "stream_id": "x" * 300}}, REJECTED_STREAM_ID),
    ({"data": b"hello", "headers": {"Content-Type": "application/sdp"},
      "params": {"stream_id": "s2"}}, "s2"),
    ({"data": b"v=0" + b" " * (2 * MAX_OFFER_BYTES),
      "headers": {"Content-Type": "application/sdp"}}, REJECTED_STREAM_ID),
    # Looks like SDP to the first check; aiortc's parser refuses it.
    ({"json": {"type": "offer", "sdp": SDP, "stream_id": "s3"}}, "s3"),
])
def test_bad_input_gets_400_and_an_error_record(kwargs: dict[str, Any], stream_id: str) -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        status, body = await _post(session, ingest.url, **kwargs)
        assert status == 400
        assert body["error"]["type"] == "invalid_offer"
        assert body["error"]["message"]
        assert ingest.stream_ids == []

    records = _run(test)
    errors = [r for r in records if r.kind == "status"]
    assert len(errors) == 1
    assert (errors[0].stream_id, errors[0].status) == (stream_id, "error")
    assert errors[0].error and errors[0].meta == {"http_status": 400, "type": "invalid_offer"}


def test_good_offer_is_answered_with_candidates_on_loopback() -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        pc, sdp = await _real_offer()
        try:
            status, body = await _post(session, ingest.url, json={"type": "offer", "sdp": sdp,
                                                                  "stream_id": "cam-1"})
            assert status == 200
            assert (body["type"], body["stream_id"]) == ("answer", "cam-1")
            assert "a=candidate:" in body["sdp"] and " 127.0.0.1 " in body["sdp"]
            assert ingest.stream_ids == ["cam-1"]
            async with session.get(ingest.url + "/healthz") as response:
                assert await response.json() == {"peers": 1, "max_peers": 32}
        finally:
            await pc.close()

    # The peer never connects: stop() still reports its end.
    assert _statuses(_run(test)) == [("cam-1", "ended")]


def test_raw_sdp_offer_and_generated_stream_id() -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        pc, sdp = await _real_offer(("audio",))
        try:
            status, body = await _post(session, ingest.url, data=sdp.encode(),
                                       headers={"Content-Type": "application/sdp"})
            assert status == 200
            assert len(body["stream_id"]) == 36  # a UUID
        finally:
            await pc.close()

    _run(test)


def test_conflicting_stream_id_gets_409_and_too_many_peers_503() -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        peers = [await _real_offer() for _ in range(3)]
        try:
            first = {"type": "offer", "sdp": peers[0][1], "stream_id": "live"}
            assert (await _post(session, ingest.url, json=first))[0] == 200
            status, body = await _post(session, ingest.url, json={**first,
                                                                  "sdp": peers[1][1]})
            assert (status, body["error"]["type"]) == (409, "stream_id_conflict")
            status, body = await _post(session, ingest.url,
                                       json={"type": "offer", "sdp": peers[2][1],
                                             "stream_id": "other"})
            assert (status, body["error"]["type"]) == (503, "too_many_peers")
            assert "limit of 1 peers" in body["error"]["message"]
            assert ingest.stream_ids == ["live"]
        finally:
            for pc, _ in peers:
                await pc.close()

    records = _run(test, max_peers=1)
    # The conflict's record does not muddle the live stream's own statuses.
    assert _statuses(records) == [(REJECTED_STREAM_ID, "error"), ("other", "error"),
                                  ("live", "ended")]


def test_a_peer_that_never_connects_is_dropped() -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        pc, sdp = await _real_offer()
        await pc.close()  # gone before ICE could start
        status, _ = await _post(session, ingest.url, json={"type": "offer", "sdp": sdp,
                                                          "stream_id": "ghost"})
        assert status == 200
        for _ in range(50):
            if not ingest.stream_ids:
                break
            await asyncio.sleep(0.05)
        assert ingest.stream_ids == []

    records = _run(test, connect_timeout=0.5)
    dropped = [r for r in records if r.kind == "status"]
    assert [(r.stream_id, r.status) for r in dropped] == [("ghost", "dropped")]
    assert dropped[0].error is not None and "no connection within 0.5 s" in dropped[0].error


def test_a_returning_stream_id_continues_its_seq() -> None:
    """A retry after a refusal, or a reconnect, must not restart the stream's records at 0."""
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        status, _ = await _post(session, ingest.url, json={"type": "offer", "sdp": "x",
                                                          "stream_id": "cam"})
        assert status == 400
        for _ in range(2):
            pc, sdp = await _real_offer()
            status, _ = await _post(session, ingest.url, json={"type": "offer", "sdp": sdp,
                                                              "stream_id": "cam"})
            assert status == 200
            await ingest._finish(ingest._peers["cam"], "ended")
            await pc.close()

    records = _run(test)
    assert [(r.status, r.seq) for r in records] == [("error", 0), ("ended", 1), ("ended", 2)]


def test_the_sender_page_is_served() -> None:
    async def test(ingest: WebRtcIngest, records: Records,
                   session: aiohttp.ClientSession) -> None:
        async with session.get(ingest.url + "/") as response:
            assert response.status == 200
            page = await response.text()
        assert "getUserMedia" in page and 'fetch("offer"' in page

    _run(test)


def test_an_emit_that_fails_does_not_break_a_refusal() -> None:
    def emit(record: MediaRecord) -> None:
        raise RuntimeError("broker down")

    async def main() -> int:
        ingest = WebRtcIngest(emit)
        await ingest.start()
        try:
            async with aiohttp.ClientSession() as session:
                status, _ = await _post(session, ingest.url, data=b"x")
                return status
        finally:
            await ingest.stop()

    assert asyncio.run(main()) == 400
