"""Media at the edge: decoded frames become feature records (RTMP and HLS pulling lives here too).

* :mod:`connectors.media.features`: :class:`FeatureTap`, frames to records;
* :mod:`connectors.media.hooks`: the per-stream hook interface;
* :mod:`connectors.media.publisher`: records to Kafka.
"""
