"""Media at the edge: decoded frames become feature records; RTMP and HLS are pulled here.

* :mod:`midstream.connectors.media.features`: :class:`FeatureTap`, frames to records;
* :mod:`midstream.connectors.media.pull`: :class:`MediaPuller` (RTMP, HLS, files) with
  reconnection and backoff, and :mod:`midstream.connectors.media.options` (``PullOptions``);
* :mod:`midstream.connectors.media.hooks`: the per-stream hook interface, with the
  shipped hooks in ``dtmf_hook``, ``motion_hook`` and ``whisper``;
* :mod:`midstream.connectors.media.source`: an in-process Bytewax source for any ingest;
* :mod:`midstream.connectors.media.publisher`: records to Kafka;
* :mod:`midstream.connectors.media.synthetic`: a lavfi test pattern and tone (the demo's camera).
"""

from __future__ import annotations

# Import the modules themselves (midstream.connectors.media.<module>); the package exports nothing.
__all__: list[str] = []
