"""The Realtime relay: a WebSocket relay for OpenAI's Realtime API that taps and acts mid-stream.

See :mod:`connectors.openai.realtime.server` (the relay),
:mod:`connectors.openai.realtime.session` (what is tapped, and how a stop works)
and ``python -m connectors.openai.realtime --help``.
"""

from connectors.openai.realtime.config import RelayConfig, RelayConfigError
from connectors.openai.realtime.metrics import RelayMetrics
from connectors.openai.realtime.server import RealtimeRelay
from connectors.openai.realtime.session import SessionTap

__all__ = ["RealtimeRelay", "RelayConfig", "RelayConfigError", "RelayMetrics", "SessionTap"]
