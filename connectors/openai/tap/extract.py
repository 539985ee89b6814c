"""Turning the openai SDK's stream items into token events, without changing them.

Two shapes of stream reach :func:`midstream.connectors.openai.tap.tap`:

- Chat Completions (``client.chat.completions.create(stream=True)``) yields
  ``ChatCompletionChunk`` objects: deltas carry ``content``, ``refusal`` or
  ``tool_calls`` fragments, the last choice carries ``finish_reason``, and with
  ``stream_options={"include_usage": True}`` a final chunk with ``choices: []``
  carries ``usage``. Some servers send ``choices: null``; that is treated as no
  choices.
- Responses (``client.responses.create(stream=True)``) yields typed events:
  ``response.created``, ``response.output_text.delta``, ``response.refusal.delta``,
  ``response.function_call_arguments.delta`` and a terminal
  ``response.completed`` / ``response.incomplete`` / ``response.failed`` (or an
  ``error`` event).

Only the first choice (``index == 0``) of a Chat Completions stream is tapped:
one Kafka stream is one answer. Refusals and tool-call argument fragments are
published as deltas too (MidStream's rules should see them), marked in
``meta["event"]``. A chunk's ``logprob`` is the sum of its tokens' log
probabilities (the joint log probability of the chunk's text), when the
request asked for logprobs.

The extractors read attributes only, so they work on the SDK's pydantic models
and on anything shaped like them.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> from midstream.connectors.openai.publisher import TokenPublisher
>>> publisher = TokenPublisher(None, "tokens", "s1", provider="openai", model=None)
>>> chat = ChatChunkExtractor(publisher)
>>> delta = NS(content="Hi", refusal=None, tool_calls=None)
>>> chat.feed(NS(id="c1", model="m", usage=None,
...              choices=[NS(index=0, delta=delta, finish_reason=None, logprobs=None)]))
>>> chat.feed(NS(id="c1", model="m", choices=None, usage=None))  # the choices: null quirk
>>> publisher.model, publisher.last_event.text, chat.finish_reason
('m', 'Hi', None)
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from midstream.connectors.openai.publisher import TokenPublisher


def _dump(model: Any) -> dict[str, Any] | None:
    """Dump a pydantic model (or mapping) as a plain JSON-able dict."""
    if model is None:
        return None
    if isinstance(model, dict):
        return model
    dump = getattr(model, "model_dump", None)
    if dump is not None:
        result: dict[str, Any] = dump(exclude_none=True)
        return result
    return dict(vars(model))


def _str(value: Any) -> str | None:
    """Return ``value`` if it is a string, else None.

    The SDK builds stream objects without validation (``construct``), so any
    JSON an upstream sends may sit in any field: what the tap publishes passes
    these gates, and a field of the wrong type reads as absent.

    >>> _str("stop"), _str(["stop"])
    ('stop', None)
    """
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _logprob_sum(entries: Any) -> float | None:
    """Sum of ``logprob`` over a list of token logprob entries; None when there are none.

    >>> from types import SimpleNamespace as NS
    >>> _logprob_sum([NS(logprob=-0.5), NS(logprob=-0.25)]), _logprob_sum([NS(logprob="x")])
    (-0.75, None)
    """
    if not entries or not isinstance(entries, list):
        return None
    total = 0.0
    for entry in entries:
        value = getattr(entry, "logprob", None)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        total += float(value)
    return total if math.isfinite(total) and abs(total) < 1e300 else None


def _usage(model: Any) -> dict[str, Any] | None:
    """Return usage as a JSON object (only its JSON-able parts), or None."""
    try:
        usage = _dump(model)
    except Exception:  # an unvalidated SDK object may not dump; usage is optional
        return None
    if not isinstance(usage, dict):
        return None
    try:
        return orjson.loads(orjson.dumps(usage, default=lambda value: None))
    except (orjson.JSONEncodeError, orjson.JSONDecodeError):
        return None


class ChatChunkExtractor:
    """Publishes the deltas of ``chat.completion.chunk`` objects; keeps finish reason and usage.

    Parameters
    ----------
    publisher
        The stream's publisher; its ``model`` is filled from the first chunk if unset.
    """

    api = "chat.completions"

    def __init__(self, publisher: TokenPublisher) -> None:
        self.publisher = publisher
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.response_id: str | None = None
        self._tool_names: dict[int, str] = {}

    def feed(self, chunk: Any) -> None:
        """Publish what one chunk adds."""
        publisher = self.publisher
        if self.response_id is None:
            self.response_id = _str(getattr(chunk, "id", None))
        if publisher.model is None:
            publisher.model = _str(getattr(chunk, "model", None))
        choices = getattr(chunk, "choices", None)
        for choice in choices if isinstance(choices, list) else ():
            if getattr(choice, "index", 0) != 0:
                continue
            delta = getattr(choice, "delta", None)
            if delta is not None:
                content = _str(getattr(delta, "content", None))
                if content:
                    logprobs = getattr(choice, "logprobs", None)
                    entries = getattr(logprobs, "content", None) if logprobs is not None else None
                    publisher.delta(content, logprob=_logprob_sum(entries))
                refusal = _str(getattr(delta, "refusal", None))
                if refusal:
                    publisher.delta(refusal, meta={"event": "refusal"})
                calls = getattr(delta, "tool_calls", None)
                for call in calls if isinstance(calls, list) else ():
                    self._tool_call(call)
            finish_reason = _str(getattr(choice, "finish_reason", None))
            if finish_reason:
                self.finish_reason = finish_reason
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = _usage(usage)

    def _tool_call(self, call: Any) -> None:
        index = _int(getattr(call, "index", 0)) or 0
        function = getattr(call, "function", None)
        name = _str(getattr(function, "name", None)) if function is not None else None
        if name:
            self._tool_names[index] = name
        arguments = _str(getattr(function, "arguments", None)) if function is not None else None
        if arguments:
            meta: dict[str, Any] = {"event": "tool_call_arguments", "tool_index": index}
            if index in self._tool_names:
                meta["tool_name"] = self._tool_names[index]
            self.publisher.delta(arguments, meta=meta)


_TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


class ResponsesEventExtractor:
    """Publishes the deltas of Responses API stream events; keeps the outcome and usage.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from midstream.connectors.openai.publisher import TokenPublisher
    >>> publisher = TokenPublisher(None, "tokens", "s1", provider="openai", model=None)
    >>> events = ResponsesEventExtractor(publisher)
    >>> events.feed(NS(type="response.created", response=NS(id="resp_1", model="m")))
    >>> events.feed(NS(type="response.output_text.delta", delta="Hi", logprobs=None))
    >>> done = NS(id="resp_1", model="m", status="completed", incomplete_details=None,
    ...           usage={"input_tokens": 3, "output_tokens": 1})
    >>> events.feed(NS(type="response.completed", response=done))
    >>> events.finish_reason, events.usage, publisher.deltas
    ('completed', {'input_tokens': 3, 'output_tokens': 1}, 1)
    """

    api = "responses"

    def __init__(self, publisher: TokenPublisher) -> None:
        self.publisher = publisher
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.response_id: str | None = None

    def feed(self, event: Any) -> None:
        """Publish what one event adds."""
        kind = getattr(event, "type", None)
        if not isinstance(kind, str):  # the SDK builds events unvalidated: any JSON may be here
            return
        publisher = self.publisher
        if kind == "response.output_text.delta":
            publisher.delta(_str(getattr(event, "delta", "")) or "",
                            logprob=_logprob_sum(getattr(event, "logprobs", None)))
        elif kind == "response.refusal.delta":
            publisher.delta(_str(getattr(event, "delta", "")) or "", meta={"event": "refusal"})
        elif kind == "response.function_call_arguments.delta":
            publisher.delta(_str(getattr(event, "delta", "")) or "",
                            meta={"event": "tool_call_arguments",
                                  "item_id": _str(getattr(event, "item_id", None))})
        elif kind == "response.created" or kind in _TERMINAL:
            response = getattr(event, "response", None)
            if response is None:
                return
            if self.response_id is None:
                self.response_id = _str(getattr(response, "id", None))
            if publisher.model is None:
                publisher.model = _str(getattr(response, "model", None))
            if kind in _TERMINAL:
                self.usage = _usage(getattr(response, "usage", None))
                details = getattr(response, "incomplete_details", None)
                reason = _str(getattr(details, "reason", None)) if details is not None else None
                self.finish_reason = (reason or _str(getattr(response, "status", None))
                                      or kind[9:])
        elif kind == "error":
            self.finish_reason = "error"


Extractor = ChatChunkExtractor | ResponsesEventExtractor


def extractor_for(item: Any, publisher: TokenPublisher) -> Extractor:
    """Pick the extractor matching the first item of a stream.

    >>> from types import SimpleNamespace as NS
    >>> from midstream.connectors.openai.publisher import TokenPublisher
    >>> publisher = TokenPublisher(None, "tokens", "s1", provider="openai", model=None)
    >>> extractor_for(NS(type="response.created"), publisher).api
    'responses'
    >>> extractor_for(NS(object="chat.completion.chunk"), publisher).api
    'chat.completions'
    """
    kind = getattr(item, "type", None)
    if isinstance(kind, str) and (kind.startswith("response.") or kind == "error"):
        return ResponsesEventExtractor(publisher)
    return ChatChunkExtractor(publisher)
