"""The SDK tap: publish the deltas of openai SDK streams, and let MidStream stop them.

For apps that call the ``openai`` SDK directly, with no proxy in between.
See :func:`midstream.connectors.openai.tap.stream.tap` for the full usage.

Examples
--------
>>> from midstream.connectors.openai.tap import tap
>>> tapped = tap(iter([]), stream_id="chat-1")   # any SDK stream; here an empty one
>>> list(tapped), tapped.stopped, tapped.publisher.seq
([], False, 1)
"""

from midstream.connectors.openai.tap.stream import AsyncTappedStream, TappedStream, tap

__all__ = ["AsyncTappedStream", "TappedStream", "tap"]
