"""The media connectors' exceptions: one root, so callers can catch all of theirs."""

from __future__ import annotations

from midstream.core.exceptions import MidStreamError


class MediaError(MidStreamError):
    """Root of the media connectors' exceptions."""


class PullConfigError(MediaError, ValueError):
    """A pull option is invalid; the message says which and what is valid."""


class WhisperUnavailable(MediaError, RuntimeError):
    """faster-whisper is not installed, or the model directory is not usable."""
