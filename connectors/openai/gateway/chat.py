"""Chat Completions streaming through the gateway: chunks forwarded byte for byte unless changed.

A chunk is re-serialised only when the gateway had to change it: its content
was held back or redacted (its ``logprobs`` are then dropped, since they
spell out the original tokens), or text ending at ``finish_reason`` had to be
appended. Everything else, including ``choices: null`` chunks, tool-call
fragments, the usage chunk, upstream error frames and ``[DONE]``, passes
through unchanged. Hold-back, tap and redaction apply to choice 0's
``content``; choice 0's tool-call arguments are tapped as streams of their own
(see :meth:`LiveStream.tap_tool_arguments`) and forwarded unchanged; other
choices (``n > 1``) and refusals pass through untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from midstream.connectors.openai.gateway.errors import error_frame
from midstream.connectors.openai.gateway.sse import SseEvent
from midstream.connectors.openai.gateway.streams import STOP_FINISH_REASON, LiveStream, Services

DONE = b"data: [DONE]\n\n"
ENVELOPE = ("id", "object", "created", "model", "service_tier", "system_fingerprint")


def sse_data(value: dict[str, Any]) -> bytes:
    """One ``data: {json}`` event."""
    return b"data: " + orjson.dumps(value) + b"\n\n"


class ChatStream(LiveStream):
    """A streamed ``/v1/chat/completions`` response."""

    route = "chat"

    def __init__(self, services: Services, body: dict[str, Any], started: float) -> None:
        super().__init__(services, body, started)
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.envelope: dict[str, Any] = {}
        self.saw_done = False
        self.saw_error = False
        self._finish_sent = False
        self._finish_held: tuple[SseEvent, dict[str, Any]] | None = None

    @property
    def complete(self) -> bool:
        """Whether the upstream sent ``[DONE]`` or an error frame."""
        # An upstream error frame followed by the end of the stream is the upstream's own
        # (OpenAI's) way of ending: it passed through as it was.
        return self.saw_done or self.saw_error

    def _envelope(self) -> dict[str, Any]:
        if self.envelope:
            return dict(self.envelope)
        return {"id": self.stream_id, "object": "chat.completion.chunk", "created": 0,
                "model": self.model}

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        value = self._envelope()
        value["choices"] = choices
        if self.include_usage:
            value["usage"] = None
        value.update(extra)
        return sse_data(value)

    def text_event(self, text: str) -> bytes:
        """Synthesize a ``chat.completion.chunk`` carrying ``text`` as choice 0's content."""
        return self._chunk([{"index": 0, "delta": {"content": text}, "logprobs": None,
                             "finish_reason": None}])

    def stop_frames(self) -> bytes:
        """Return a ``stop`` finish chunk, estimated usage if asked for, then ``[DONE]``."""
        frames = self._chunk([{"index": 0, "delta": {}, "logprobs": None,
                               "finish_reason": STOP_FINISH_REASON}])
        if self.include_usage:
            # The upstream never reported usage for a cancelled request: an estimate, marked.
            completion = self.upstream_chunks
            frames += self._chunk([], usage={
                "prompt_tokens": 0, "completion_tokens": completion,
                "total_tokens": completion, "midstream_estimated": True})
        return frames + DONE

    def error_frames(self, message: str, code: str) -> bytes:
        """Return an ``upstream_error`` frame, then ``[DONE]``."""
        return error_frame(message, "upstream_error", code) + DONE

    async def on_event(self, event: SseEvent) -> bool:
        """Handle one chat-completions chunk: tap choice 0's text and tool calls, forward the rest."""
        if self._finish_held is not None and event is self._finish_held[0]:
            held = self._finish_held[1]
            self._finish_held = None
            await self.write(sse_data(held))
            return True
        data = event.data
        if data is None or data == b"[DONE]":
            self.saw_done = self.saw_done or data == b"[DONE]"
            await self._first(None)
            await self.write(event.raw)
            return True
        try:
            value: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            await self._first(None)
            await self.write(event.raw)
            return True
        await self._first(value.get("id") if isinstance(value.get("id"), str) else None)
        if "error" in value and "choices" not in value:
            self.saw_error = True
            self.finish_reason = "error"
            self.metrics.upstream_errors.labels("error_frame").inc()
            await self.write(event.raw)
            return True
        if not self.envelope:
            self.envelope = {k: value[k] for k in ENVELOPE if k in value}
        usage = value.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = value.get("choices")
        choice = None
        if isinstance(choices, list):
            for c in choices:
                if isinstance(c, dict) and c.get("index", 0) == 0:
                    choice = c
                    break
        if choice is None:
            await self.write(event.raw)
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("tool_calls"), list):
            self._tap_tool_calls(delta["tool_calls"])
        content = delta.get("content") if isinstance(delta, dict) else None
        finish = choice.get("finish_reason")
        changed = False
        out = ""
        if isinstance(content, str) and content:
            out = self.take_text(content)
            changed = out != content
        if finish is not None and not self._finish_sent:
            self._finish_sent = True
            self.finish_reason = str(finish)
            tail = self.finish_text()
            if tail:
                out += tail
                changed = True
            if self.waiting:
                # Text before the finish goes now; the finish waits for the decision.
                if out:
                    await self.emit_text(out)
                if isinstance(delta, dict):
                    delta.pop("content", None)
                choice["logprobs"] = None
                self._finish_held = (event, value)
                return False
        if changed:
            assert isinstance(delta, dict)
            delta["content"] = out
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
            if out:
                self.delivered(out)
            if not out and finish is None and len(delta) == 1 and not choice.get("logprobs"):
                return True  # nothing left to say in this chunk
            await self.write(sse_data(value))
            return True
        if out:
            self.delivered(out)
        await self.write(event.raw)
        return True

    def _tap_tool_calls(self, calls: list[Any]) -> None:
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("index"), int):
                continue
            function = call.get("function")
            if not isinstance(function, dict):
                continue
            name = function.get("name") if isinstance(function.get("name"), str) else None
            arguments = function.get("arguments")
            self.tap_tool_arguments(call["index"], name,
                                    arguments if isinstance(arguments, str) else "")

    async def _first(self, stream_id: str | None) -> None:
        if self.response is None:
            self.begin(stream_id)
            await self.prepare(self.request)
