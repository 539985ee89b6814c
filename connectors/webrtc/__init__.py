"""WebRTC ingest on aiortc: browsers and other peers send camera and microphone, MidStream
gets feature records (:class:`~connectors.webrtc.server.WebRtcIngest`)."""

from __future__ import annotations

from connectors.webrtc.exceptions import ConfigError, OfferRejected, WebRtcError
from connectors.webrtc.ice import host_addresses, rtc_configuration
from connectors.webrtc.server import WebRtcIngest, parse_offer

__all__ = ["ConfigError", "OfferRejected", "WebRtcError", "WebRtcIngest", "host_addresses",
           "parse_offer", "rtc_configuration"]
