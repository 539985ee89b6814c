"""The media connectors' exceptions: one root, so callers can catch all of theirs."""

from __future__ import annotations


class MediaError(Exception):
    """Root of the media connectors' exceptions."""


class PullConfigError(MediaError, ValueError):
    """A pull option is invalid; the message says which and what is valid."""
