"""The Realtime relay: a WebSocket relay for OpenAI's Realtime API that taps and acts mid-stream.

See :mod:`midstream.connectors.openai.realtime.server` (the relay),
:mod:`midstream.connectors.openai.realtime.session` (what is tapped, and how a stop works)
and ``midstream realtime --help`` (:mod:`midstream.cli.realtime`).
"""

from midstream.connectors.openai.realtime.config import RelayConfig, RelayConfigError
from midstream.connectors.openai.realtime.server import RealtimeRelay
from midstream.connectors.openai.realtime.session import SessionTap
from midstream.core.metrics import RelayMetrics

__all__ = ["RealtimeRelay", "RelayConfig", "RelayConfigError", "RelayMetrics", "SessionTap"]
