"""WebRTC ingest on aiortc: browsers and other peers send camera and microphone, MidStream
gets feature records.

* :class:`connectors.webrtc.server.WebRtcIngest`: the signalling server and its peers
  (``midstream ingest --webrtc-listen HOST:PORT`` runs it);
* :mod:`connectors.webrtc.ice`: ICE servers, and host-candidate addresses for loopback;
* :mod:`connectors.webrtc.exceptions`: the errors.
"""
