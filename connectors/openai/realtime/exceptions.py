"""The Realtime relay's exceptions."""

from __future__ import annotations

from midstream.connectors.openai.exceptions import OpenAIConnectorError

__all__ = ["RelayConfigError", "RelayError"]


class RelayError(OpenAIConnectorError):
    """Root of the Realtime relay's exceptions."""


class RelayConfigError(RelayError, ValueError):
    """The relay's settings are unusable; the message says which one and why."""
