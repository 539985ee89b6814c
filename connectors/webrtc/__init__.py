"""WebRTC ingest on aiortc: browsers and peers send camera and microphone, MidStream gets feature records.

* :class:`midstream.connectors.webrtc.server.WebRtcIngest`: the signalling server and its peers
  (``midstream ingest --webrtc-listen HOST:PORT`` runs it);
* :mod:`midstream.connectors.webrtc.offer`: reading and validating posted SDP offers;
* :mod:`midstream.connectors.webrtc.ice`: ICE servers, and host-candidate addresses for loopback;
* :mod:`midstream.connectors.webrtc.exceptions`: the errors.
"""

from __future__ import annotations

# Import the modules themselves; the package exports nothing.
__all__: list[str] = []
