"""The OpenAI connectors' exceptions: one root for the gateway's, the relay's and the tap's."""

from __future__ import annotations

from midstream.core.exceptions import MidStreamError

__all__ = ["OpenAIConnectorError"]


class OpenAIConnectorError(MidStreamError):
    """Root of the OpenAI connectors' exceptions (gateway, Realtime relay, SDK tap)."""
