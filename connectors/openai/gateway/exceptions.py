"""The gateway's exceptions (one root, so callers can catch the gateway's own failures)."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's exceptions."""


class ConfigError(GatewayError):
    """A setting is missing or invalid; the message says which and what is valid."""


class InsecureUpstreamError(ConfigError):
    """The upstream is plain http on a non-loopback host and that was not allowed."""
