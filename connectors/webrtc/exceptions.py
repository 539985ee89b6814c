"""The WebRTC ingest's exceptions (one root, so callers can catch the ingest's own failures)."""

from __future__ import annotations

from midstream.core.exceptions import MidStreamError


class WebRtcError(MidStreamError):
    """Root of the WebRTC ingest's exceptions."""


class WebRtcConfigError(WebRtcError):
    """A setting is invalid; the message says which and what is valid."""


class OfferRejected(WebRtcError):
    """An offer was refused; ``status`` is the HTTP status and ``type`` the error type.

    The message is safe to send back to the peer and to put in a status record.
    """

    def __init__(self, message: str, *, status: int = 400, type_: str = "invalid_offer") -> None:
        super().__init__(message)
        self.status = status
        self.type = type_


class InvalidOffer(OfferRejected):
    """The offer is not a usable SDP offer (400, ``invalid_offer``).

    ``stream_id`` is the valid stream id the refused request asked for, if any.
    """

    def __init__(self, message: str, *, stream_id: str | None = None) -> None:
        super().__init__(message)
        self.stream_id = stream_id


class StreamIdConflict(OfferRejected):
    """A live peer already uses the stream id (409, ``stream_id_conflict``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=409, type_="stream_id_conflict")


class TooManyPeers(OfferRejected):
    """The ingest is at ``max_peers`` (503, ``too_many_peers``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=503, type_="too_many_peers")
