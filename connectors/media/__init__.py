"""Media at the edge: decoded frames become feature records; RTMP and HLS are pulled here.

* :mod:`connectors.media.features`: :class:`FeatureTap`, frames to records;
* :mod:`connectors.media.pull`: :class:`MediaPuller` (RTMP, HLS, files) with
  reconnection and backoff, and :mod:`connectors.media.options` (``PullOptions``);
* :mod:`connectors.media.hooks`: the per-stream hook interface, with the
  shipped hooks in ``dtmf_hook``, ``motion_hook`` and ``whisper``;
* :mod:`connectors.media.source`: an in-process Bytewax source for any ingest;
* :mod:`connectors.media.publisher`: records to Kafka;
* :mod:`connectors.media.synthetic`: a lavfi test pattern and tone (the demo's camera).
"""
