r"""Splitting an upstream's server-sent-event byte stream into whole events, bytes untouched.

The gateway forwards each event's original bytes, so it needs event boundaries
(a blank line), the ``event:`` name and the ``data:`` payload, and nothing
else. Upstreams that end lines with CRLF are read too; their events are
forwarded with LF line ends.

Examples
--------
>>> splitter = SseSplitter()
>>> events = splitter.feed(b'data: {"a":1}\n\ndata: [DO')
>>> [(e.data, e.raw) for e in events]
[(b'{"a":1}', b'data: {"a":1}\n\n')]
>>> [e.data for e in splitter.feed(b'NE]\n\n')]
[b'[DONE]']
>>> [(e.name, e.data) for e in SseSplitter().feed(b"event: response.created\ndata: {}\n\n")]
[(b'response.created', b'{}')]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its raw bytes (with the blank line), name and data."""

    raw: bytes
    name: bytes | None
    data: bytes | None


def parse_event(raw: bytes) -> SseEvent:
    """Read the ``event:`` and ``data:`` fields of one event (multi-line data joined by LF)."""
    name: bytes | None = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            name = (line[7:] if line[6:7] == b" " else line[6:]).strip()
    return SseEvent(raw, name, b"\n".join(data) if data else None)


class SseSplitter:
    """Feeds bytes as they come; returns the events they complete."""

    def __init__(self) -> None:
        self._buffer = b""
        self._crlf: bool | None = None

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete."""
        return self._buffer

    def feed(self, data: bytes) -> list[SseEvent]:
        """Append ``data``; return the complete events, in order."""
        if self._crlf is None and b"\n" in data:
            self._crlf = b"\r\n" in data
        if self._crlf:
            data = data.replace(b"\r\n", b"\n")
        buffer = self._buffer + data if self._buffer else data
        events: list[SseEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            raw = buffer[start:end + 2]
            if raw.strip():
                events.append(parse_event(raw))
            start = end + 2
        self._buffer = buffer[start:]
        return events
