"""MidStream: real-time analysis of LLM and media streams while they stream.

One importable name holds the whole product, in layers that import one way:
``midstream.cli`` on top; ``midstream.flows`` and ``midstream.connectors`` in the
middle; ``midstream.core`` (contracts, config, metrics, exceptions) and
``midstream.operators`` (pure algorithms) at the bottom.

Examples
--------
>>> import midstream
>>> midstream.__version__
'0.1.0'
"""

from __future__ import annotations

import logging

__all__ = ["__version__"]

__version__ = "0.1.0"

# A library adds only a NullHandler; entry points (the CLI) configure logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
