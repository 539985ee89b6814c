"""The gateway's exceptions (one root, so callers can catch the gateway's own failures)."""

from __future__ import annotations

from midstream.connectors.openai.exceptions import OpenAIConnectorError

__all__ = ["GatewayConfigError", "GatewayError", "InsecureUpstreamError"]


class GatewayError(OpenAIConnectorError):
    """Root of the gateway's exceptions."""


class GatewayConfigError(GatewayError):
    """A setting is missing or invalid; the message says which and what is valid."""


class InsecureUpstreamError(GatewayConfigError):
    """The upstream is plain http on a non-loopback host and that was not allowed."""
