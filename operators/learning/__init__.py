"""Online learning of a bad-outcome probability from a bounded, hashed feature vector.

One idea per module: :mod:`~midstream.operators.learning.hashing` turns named features
into a sparse vector of fixed dimension, :mod:`~midstream.operators.learning.ftrl` learns
a logistic regression from it one example at a time, :mod:`~midstream.operators.learning.metrics`
scores the predictions as they are made (test, then train), and
:mod:`~midstream.operators.learning.drift` says when those scores change. Like every
operator, each class is pure (no I/O) and pickles, so Bytewax recovery can snapshot it.
"""

from __future__ import annotations

# Import the modules themselves (midstream.operators.learning.<module>); the package exports nothing.
__all__: list[str] = []
