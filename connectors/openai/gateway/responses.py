"""Responses API streaming through the gateway: events forwarded byte for byte unless changed.

``response.output_text.delta`` events carry the text that is tapped, held back
and redacted. Because the closing events (``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``,
``response.completed``) repeat the whole text, they are rewritten with the text
the client actually received whenever that differs from the upstream's, so a
redacted span cannot come back at the end. Synthesized delta events (text
released after a hold) reuse the last upstream ``sequence_number``. A stopped
stream ends with ``response.incomplete`` and ``incomplete_details.reason =
"content_filter"``.
"""

from __future__ import annotations

from typing import Any

import orjson

from midstream.connectors.openai.gateway.sse import SseEvent
from midstream.connectors.openai.gateway.streams import STOP_FINISH_REASON, LiveStream, Services

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def sse_event(name: str, value: dict[str, Any]) -> bytes:
    """One ``event: <name>`` / ``data: {json}`` event."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(value) + b"\n\n"


def replace_text(value: Any, text: str) -> None:
    """Set the ``text`` of every ``output_text`` part inside ``value`` (in place)."""
    if isinstance(value, dict):
        if value.get("type") == "output_text" and "text" in value:
            value["text"] = text
        for item in value.values():
            replace_text(item, text)
    elif isinstance(value, list):
        for item in value:
            replace_text(item, text)


class ResponsesStream(LiveStream):
    """A streamed ``/v1/responses`` response."""

    route = "responses"

    def __init__(self, services: Services, body: dict[str, Any], started: float) -> None:
        super().__init__(services, body, started)
        self.resource: dict[str, Any] = {}
        self.where: dict[str, Any] = {"output_index": 0, "content_index": 0}
        self.sequence = 0
        self.original: list[str] = []
        self.terminal = False
        self._text_done = False
        self._held: SseEvent | None = None

    @property
    def complete(self) -> bool:
        """Whether the upstream sent a terminal event (completed, incomplete, failed or error)."""
        return self.terminal

    def text_event(self, text: str) -> bytes:
        """Synthesize a ``response.output_text.delta`` event carrying ``text``."""
        return sse_event("response.output_text.delta", {
            "type": "response.output_text.delta", "sequence_number": self.sequence,
            **self.where, "delta": text, "logprobs": []})

    def stop_frames(self) -> bytes:
        """Return a ``response.incomplete`` event holding the text sent so far."""
        resource = dict(self.resource)
        resource.update(status="incomplete", incomplete_details={"reason": STOP_FINISH_REASON})
        item_id = self.where.get("item_id")
        resource["output"] = [{
            "id": item_id, "type": "message", "status": "incomplete", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                         "text": "".join(self.collected)}],
        }] if item_id else []
        return sse_event("response.incomplete", {
            "type": "response.incomplete", "sequence_number": self.sequence + 1,
            "response": resource})

    def error_frames(self, message: str, code: str) -> bytes:
        """Return an ``error`` event with ``code`` and ``message``."""
        return sse_event("error", {"type": "error", "sequence_number": self.sequence + 1,
                                   "code": code, "message": message, "param": None})

    async def on_event(self, event: SseEvent) -> bool:
        """Handle one Responses API event: tap ``output_text`` deltas, forward the rest."""
        if self.response is None:
            await self._first(event)
        if self._held is not None and event is self._held:
            self._held = None
            await self._forward(event, self._decode(event))
            return True
        value = self._decode(event)
        if value is None:
            await self.write(event.raw)
            return True
        kind = value.get("type")
        if isinstance(value.get("sequence_number"), int):
            self.sequence = value["sequence_number"]
        if kind == "response.output_text.delta":
            text = value.get("delta")
            for key in ("item_id", "output_index", "content_index"):
                if key in value:
                    self.where[key] = value[key]
            if isinstance(text, str) and text:
                self.original.append(text)
                out = self.take_text(text)
                if out:
                    self.delivered(out)
                if out != text:
                    if not out:
                        return True
                    value["delta"] = out
                    value["logprobs"] = []
                    await self.write(sse_event(kind, value))
                    return True
            await self.write(event.raw)
            return True
        if kind == "response.output_text.done" and not self._text_done:
            self._text_done = True
            tail = self.finish_text()
            if tail:
                await self.emit_text(tail)
            if self.waiting:
                self._held = event
                return False
        if kind == "error":
            self.finish_reason = "error"
            self.terminal = True
            self.metrics.upstream_errors.labels("error_frame").inc()
        elif kind in TERMINAL:
            self.terminal = True
            response = value.get("response")
            if isinstance(response, dict):
                usage = response.get("usage")
                if isinstance(usage, dict):
                    self.usage = usage
                self.finish_reason = str(response.get("status"))
        await self._forward(event, value)
        return True

    async def _forward(self, event: SseEvent, value: dict[str, Any] | None) -> None:
        delivered = "".join(self.collected)
        if (value is not None and self.buffer is not None and self.original
                and delivered != "".join(self.original)
                and value.get("type") in ("response.output_text.done",
                                          "response.content_part.done",
                                          "response.output_item.done", *TERMINAL)):
            if value["type"] == "response.output_text.done":
                value["text"] = delivered
                value["logprobs"] = []
            else:
                replace_text(value, delivered)
            await self.write(sse_event(str(value["type"]), value))
            return
        await self.write(event.raw)

    @staticmethod
    def _decode(event: SseEvent) -> dict[str, Any] | None:
        if event.data is None:
            return None
        try:
            value = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    async def _first(self, event: SseEvent) -> None:
        value = self._decode(event)
        stream_id = None
        if value is not None and isinstance(value.get("response"), dict):
            self.resource = value["response"]
            if isinstance(self.resource.get("id"), str):
                stream_id = self.resource["id"]
            if isinstance(self.resource.get("model"), str):
                self.model = self.model or self.resource["model"]
        self.begin(stream_id)
        await self.prepare(self.request)
