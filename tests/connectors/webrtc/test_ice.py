"""connectors/webrtc/ice.py: the loopback host-address override and the ICE server settings."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpTransceiver

from midstream.connectors.webrtc import ice
from midstream.connectors.webrtc.exceptions import WebRtcConfigError


def _host_candidate_addresses(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines()
            if line.startswith("a=candidate:") and " typ host" in line}


async def _offer_sdp(addresses: tuple[str, ...] | None) -> str:
    pc = RTCPeerConnection()
    try:
        transceiver: RTCRtpTransceiver = pc.addTransceiver("audio", direction="recvonly")
        assert transceiver is not None
        with ice.host_addresses(addresses):
            await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return pc.localDescription.sdp
    finally:
        await pc.close()


def test_aioice_itself_skips_loopback() -> None:
    """The reason the override exists: aioice's own list never holds 127.0.0.1."""
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_override_gathers_exactly_the_given_addresses() -> None:
    assert _host_candidate_addresses(asyncio.run(_offer_sdp(("127.0.0.1",)))) == {"127.0.0.1"}


def test_without_override_gathering_is_aioice_own() -> None:
    assert "127.0.0.1" not in _host_candidate_addresses(asyncio.run(_offer_sdp(None)))


def test_override_is_scoped_to_the_task_that_set_it() -> None:
    """A peer gathering concurrently in another task keeps aioice's own list."""
    async def both() -> tuple[str, str]:
        inside, outside = await asyncio.gather(_offer_sdp(("127.0.0.1",)), _offer_sdp(None))
        return inside, outside

    inside, outside = asyncio.run(both())
    assert _host_candidate_addresses(inside) == {"127.0.0.1"}
    assert "127.0.0.1" not in _host_candidate_addresses(outside)


def test_override_filters_by_ip_version_and_resets() -> None:
    with ice.host_addresses(["127.0.0.1", "::1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == ["::1"]
        with ice.host_addresses(["10.1.2.3"]):
            assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["10.1.2.3"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_install_is_idempotent() -> None:
    ice.install()
    ice.install()
    assert aioice.ice.get_host_addresses is ice._gathered_addresses
    assert ice._original is not ice._gathered_addresses


@pytest.mark.parametrize("addresses,message", [
    (["localhost"], "not an IP address"),
    (["0.0.0.0"], "wildcard"),
    ("127.0.0.1", "a list of addresses"),
])
def test_bad_host_addresses(addresses: object, message: str) -> None:
    with pytest.raises(WebRtcConfigError, match=message):
        ice.check_host_addresses(addresses)  # type: ignore[arg-type]


def test_duplicates_are_dropped() -> None:
    assert ice.check_host_addresses(["127.0.0.1", "127.0.0.1"]) == ("127.0.0.1",)


def test_ice_servers() -> None:
    stun = ice.parse_ice_server("stun:stun.example.org:3478")
    assert (stun.urls, stun.username, stun.credential) == ("stun:stun.example.org:3478",
                                                           None, None)
    turn = ice.parse_ice_server("TURN:alice:s3cret@turn.example.org:3478?transport=tcp")
    assert (turn.urls, turn.username, turn.credential) == (
        "turn:turn.example.org:3478?transport=tcp", "alice", "s3cret")


def test_no_ice_server_by_default() -> None:
    assert ice.rtc_configuration(()).iceServers == []
    assert len(ice.rtc_configuration(["stun:10.0.0.1:3478"]).iceServers or []) == 1


@pytest.mark.parametrize("url,message", [
    ("http://stun.example.org", "must look like"),
    ("stun:", "must look like"),
    ("turn:turn.example.org:3478", "needs credentials"),
    ("turn:alice@turn.example.org:3478", "user:password@"),
])
def test_bad_ice_servers(url: str, message: str) -> None:
    with pytest.raises(WebRtcConfigError, match=message):
        ice.parse_ice_server(url)


def test_errors_never_show_a_turn_password() -> None:
    with pytest.raises(WebRtcConfigError) as raised:
        ice.rtc_configuration("turn:alice:s3cret@host:3478")  # type: ignore[arg-type]
    assert "s3cret" not in str(raised.value)
    with pytest.raises(WebRtcConfigError) as raised:
        ice.parse_ice_server("turns:alice:s3cret@")
    assert "s3cret" not in str(raised.value)
