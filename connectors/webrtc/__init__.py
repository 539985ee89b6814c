"""WebRTC ingest on aiortc: browsers and other peers send camera and microphone, MidStream
gets feature records.

* :class:`connectors.webrtc.server.WebRtcIngest`: the signalling server and its peers
  (``python -m connectors.webrtc.server`` runs it);
* :mod:`connectors.webrtc.ice`: ICE servers, and host-candidate addresses for loopback;
* :mod:`connectors.webrtc.exceptions`: the errors.

Nothing is imported here, so ``python -m connectors.webrtc.server`` runs the module once.
"""
