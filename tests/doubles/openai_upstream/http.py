"""A local HTTP upstream speaking OpenAI's Chat Completions and Responses wire formats exactly.

OpenAI's servers cannot be reached from where MidStream is built and tested, so
the gateway's tests and benchmarks run against this stand-in. It is not a
model: it plays a :class:`Script` (text pieces, tool-call argument fragments,
pacing, quirks) in the exact formats OpenAI documents and sends (DESIGN.md,
"OpenAI wire formats"):

* Chat Completions streaming: SSE ``data: {json}\\n\\n`` chunks of
  ``chat.completion.chunk``; a role-first delta, content deltas (one piece per
  chunk) or tool-call fragments with an ``index``, a last choice carrying
  ``finish_reason``, then with ``stream_options.include_usage`` one chunk with
  ``choices: []`` and ``usage`` (every earlier chunk carrying ``"usage": null``),
  then ``data: [DONE]``. Non-streaming requests get a ``chat.completion``.
* Responses streaming: ``event: <type>`` / ``data: {json}`` events from
  ``response.created`` through ``response.output_text.delta`` to
  ``response.completed`` (no ``[DONE]``). Non-streaming requests get a ``response``.
* Quirks seen in the wild, on request: a chunk with ``choices: null``, a
  ``data: {"error": ...}`` frame (then the stream ends), and an upstream that
  dies mid-stream (the TCP connection is aborted).
* Errors in OpenAI's shape: 401 without the configured key, 404
  ``model_not_found`` for a model it has no script for, 400 for a body that is
  not JSON.

It records every request (:class:`Received`): the body, whether it streamed,
how many pieces it sent, and whether the client went away before the end
(``disconnected``), so a test can assert "the upstream saw the cancel".

Examples
--------
>>> import asyncio
>>> async def demo():
...     upstream = StandinUpstream(models={"m": Script(pieces=("Hi", "!"))})
...     base_url = await upstream.start()
...     await upstream.close()
...     return base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolCallScript:
    """One tool call the stand-in streams as argument fragments."""

    name: str
    fragments: tuple[str, ...]
    call_id: str = "call_standin"


@dataclass(frozen=True)
class Script:
    """What the stand-in answers for one model.

    Parameters
    ----------
    pieces
        Text deltas, one per chunk (OpenAI sends about one token per chunk).
    tool_calls
        Tool calls streamed as argument fragments after the text.
    pacing
        Seconds between chunks (a model's decode rate; 0.02 is 50 chunks/s),
        kept on a fixed schedule from the first chunk, so the rate does not drift.
    first_delay
        Seconds before the first chunk (time to first token).
    choices_null_before
        Piece indices before which a ``choices: null`` chunk is sent.
    error_after
        After this many pieces, send a ``data: {"error": ...}`` frame and end.
    die_after
        After this many pieces, abort the TCP connection (no end of stream).
    stamp
        Put the send time (``time.monotonic_ns()``, as ``t<ns>``) in each Chat
        Completions chunk's ``system_fingerprint``, for latency benchmarks.
    """

    pieces: tuple[str, ...] = ("Hello", ",", " world", "!")
    tool_calls: tuple[ToolCallScript, ...] = ()
    pacing: float = 0.0
    first_delay: float = 0.0
    choices_null_before: tuple[int, ...] = ()
    error_after: int | None = None
    die_after: int | None = None
    stamp: bool = False


@dataclass
class Received:
    """One request as the stand-in saw it."""

    path: str
    body: dict[str, Any]
    stream: bool
    authorization: str | None = field(default=None, repr=False)
    pieces_planned: int = 0
    pieces_sent: int = 0
    disconnected: bool = False
    """The client closed the connection before the stream's end (a cancel)."""
    completed: bool = False
    """The whole answer was sent."""
    finished_at: float | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def error_body(message: str, type_: str, code: str | None, param: str | None = None
               ) -> dict[str, Any]:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

    >>> error_body("nope", "invalid_request_error", "model_not_found")["error"]["code"]
    'model_not_found'
    """
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _ClientGone(Exception):
    pass


class _Pacer:
    """Sleeps until the next chunk's slot: ``pacing`` seconds apart from the first call."""

    def __init__(self, pacing: float) -> None:
        self.pacing = pacing
        self._next: float | None = None

    async def __call__(self) -> None:
        if not self.pacing:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next is None:
            self._next = now
        self._next += self.pacing
        await asyncio.sleep(max(0.0, self._next - now))


class StandinUpstream:
    """The stand-in server: an aiohttp application on 127.0.0.1 and a free port.

    Parameters
    ----------
    models
        A script per model name; requests for other models get a 404.
    api_key
        When set, requests must carry ``Authorization: Bearer <api_key>``.
    """

    def __init__(self, models: Mapping[str, Script] | None = None, *,
                 api_key: str | None = None) -> None:
        self.scripts: dict[str, Script] = dict(models or {"gpt-4o-mini": Script()})
        self._api_key = api_key
        self.received: list[Received] = []
        self._runner: web.AppRunner | None = None
        self._scheme = "http"
        self.port = 0

    def __repr__(self) -> str:
        return f"StandinUpstream(port={self.port}, models={sorted(self.scripts)!r})"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what an OpenAI client's ``base_url`` is set to."""
        return f"{self._scheme}://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        """The aiohttp application (routes under ``/v1``)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        """Listen on 127.0.0.1 and a free port; return :attr:`base_url`.

        With ``ssl_context`` it serves https (tests of TLS verification).
        """
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        self._scheme = "https" if ssl_context is not None else "http"
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.base_url

    async def close(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- common -----------------------------------------------------------------------------

    async def _admit(self, request: web.Request, path: str
                     ) -> tuple[Received, Script] | web.Response:
        authorization = request.headers.get("Authorization")
        if self._api_key is not None and authorization != f"Bearer {self._api_key}":
            return web.json_response(error_body(
                "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
                status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response(error_body(
                "We could not parse the JSON body of your request.", "invalid_request_error",
                None), status=400)
        if not isinstance(body, dict):
            return web.json_response(error_body(
                "The request body must be a JSON object.", "invalid_request_error", None),
                status=400)
        received = Received(path=path, body=body, stream=bool(body.get("stream")),
                            authorization=authorization)
        self.received.append(received)
        model = body.get("model")
        script = self.scripts.get(model) if isinstance(model, str) else None
        if script is None:
            return web.json_response(error_body(
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error", "model_not_found"), status=404)
        return received, script

    async def _models(self, request: web.Request) -> web.Response:
        created = int(time.time())
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "midstream-standin"}
            for name in sorted(self.scripts)
        ]})

    @staticmethod
    def _limit(body: dict[str, Any], script: Script) -> tuple[tuple[str, ...], bool]:
        pieces = script.pieces
        limit = body.get("max_completion_tokens", body.get("max_tokens",
                                                           body.get("max_output_tokens")))
        if isinstance(limit, int) and 0 <= limit < len(pieces):
            return pieces[:limit], True
        return pieces, False

    @staticmethod
    def _prompt_tokens(body: dict[str, Any]) -> int:
        text = json.dumps(body.get("messages", body.get("input", "")))
        return max(1, len(text.split()))

    async def _send(self, request: web.Request, response: web.StreamResponse,
                    received: Received, payload: bytes) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone
        try:
            await response.write(payload)
        except ConnectionError as exc:
            raise _ClientGone from exc

    async def _stream_start(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
        })
        await response.prepare(request)
        return response

    def _die(self, request: web.Request, received: Received) -> None:
        received.finished_at = time.monotonic()
        if request.transport is not None:
            request.transport.abort()

    # -- Chat Completions ---------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request, "/v1/chat/completions")
        if isinstance(admitted, web.Response):
            return admitted
        received, script = admitted
        body = received.body
        pieces, truncated = self._limit(body, script)
        received.pieces_planned = len(pieces) + sum(len(t.fragments) for t in script.tool_calls)
        model = body["model"]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        finish = "length" if truncated else ("tool_calls" if script.tool_calls else "stop")
        usage = {
            "prompt_tokens": self._prompt_tokens(body),
            "completion_tokens": received.pieces_planned,
            "total_tokens": self._prompt_tokens(body) + received.pieces_planned,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }
        if not received.stream:
            await asyncio.sleep(script.first_delay + script.pacing * len(pieces))
            message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces) or None,
                                       "refusal": None, "annotations": []}
            if script.tool_calls:
                message["tool_calls"] = [
                    {"id": t.call_id, "type": "function",
                     "function": {"name": t.name, "arguments": "".join(t.fragments)}}
                    for t in script.tool_calls
                ]
            received.pieces_sent = received.pieces_planned
            received.completed = True
            return web.json_response({
                "id": completion_id, "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": finish}],
                "usage": usage, "service_tier": "default", "system_fingerprint": "fp_standin",
            }, dumps=_dumps)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(choices: list[dict[str, Any]] | None, **extra: Any) -> bytes:
            fingerprint = f"t{time.monotonic_ns()}" if script.stamp else "fp_standin"
            value: dict[str, Any] = {
                "id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "service_tier": "default", "system_fingerprint": fingerprint,
                "choices": choices,
            }
            if include_usage:
                value["usage"] = None
            value.update(extra)
            return f"data: {_dumps(value)}\n\n".encode()

        def delta(d: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return chunk([{"index": 0, "delta": d, "logprobs": None,
                           "finish_reason": finish_reason}])

        response = await self._stream_start(request)
        pace = _Pacer(script.pacing)
        try:
            await asyncio.sleep(script.first_delay)
            tools = [(i, t) for i, t in enumerate(script.tool_calls)]
            if pieces or not tools:
                first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
            else:
                i, t = tools[0]
                first = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                    {"index": i, "id": t.call_id, "type": "function",
                     "function": {"name": t.name, "arguments": ""}}]}
            await self._send(request, response, received, delta(first))
            for n, piece in enumerate(pieces):
                if n == script.error_after:
                    return await self._error_frame(request, response, received)
                if n == script.die_after:
                    self._die(request, received)
                    return response
                if n in script.choices_null_before:
                    await self._send(request, response, received, chunk(None))
                await pace()
                await self._send(request, response, received, delta({"content": piece}))
                received.pieces_sent += 1
            for k, (i, t) in enumerate(tools):
                if k > 0 or pieces:
                    await self._send(request, response, received, delta({"tool_calls": [
                        {"index": i, "id": t.call_id, "type": "function",
                         "function": {"name": t.name, "arguments": ""}}]}))
                for fragment in t.fragments:
                    await pace()
                    await self._send(request, response, received, delta(
                        {"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
                    received.pieces_sent += 1
            if script.error_after is not None and script.error_after >= len(pieces):
                return await self._error_frame(request, response, received)
            if script.die_after is not None and script.die_after >= len(pieces):
                self._die(request, received)
                return response
            await self._send(request, response, received, delta({}, finish))
            if include_usage:
                await self._send(request, response, received, chunk([], usage=usage))
            await self._send(request, response, received, b"data: [DONE]\n\n")
            received.completed = True
            received.finished_at = time.monotonic()
            await response.write_eof()
        except _ClientGone:
            received.disconnected = True
            received.finished_at = time.monotonic()
        return response

    async def _error_frame(self, request: web.Request, response: web.StreamResponse,
                           received: Received) -> web.StreamResponse:
        frame = error_body("The server had an error while processing your request.",
                           "server_error", "server_error")
        await self._send(request, response, received, f"data: {_dumps(frame)}\n\n".encode())
        received.finished_at = time.monotonic()
        await response.write_eof()
        return response

    # -- Responses ---------------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request, "/v1/responses")
        if isinstance(admitted, web.Response):
            return admitted
        received, script = admitted
        body = received.body
        pieces, _ = self._limit(body, script)
        received.pieces_planned = len(pieces)
        response_id = f"resp_{uuid.uuid4().hex}"
        item_id = f"msg_{uuid.uuid4().hex}"
        prompt_tokens = self._prompt_tokens(body)

        def resource(status: str, output: list[dict[str, Any]],
                     usage: dict[str, Any] | None) -> dict[str, Any]:
            return {
                "id": response_id, "object": "response", "created_at": int(time.time()),
                "status": status, "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "max_output_tokens":
                body.get("max_output_tokens"), "model": body["model"], "output": output,
                "parallel_tool_calls": True, "previous_response_id": None,
                "reasoning": {"effort": None, "summary": None}, "store": True,
                "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
                "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
                "user": None, "metadata": {},
            }

        text = "".join(pieces)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        item = {"id": item_id, "type": "message", "status": "completed", "content": [part],
                "role": "assistant"}
        usage = {"input_tokens": prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": len(pieces), "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": prompt_tokens + len(pieces)}
        if not received.stream:
            await asyncio.sleep(script.first_delay + script.pacing * len(pieces))
            received.pieces_sent = len(pieces)
            received.completed = True
            return web.json_response(resource("completed", [item], usage), dumps=_dumps)
        sequence = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal sequence
            value = {"type": kind, "sequence_number": sequence, **fields}
            sequence += 1
            return f"event: {kind}\ndata: {_dumps(value)}\n\n".encode()

        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        response = await self._stream_start(request)
        send = self._send
        pace = _Pacer(script.pacing)
        try:
            await asyncio.sleep(script.first_delay)
            await send(request, response, received,
                       event("response.created", response=resource("in_progress", [], None)))
            await send(request, response, received,
                       event("response.in_progress", response=resource("in_progress", [], None)))
            await send(request, response, received, event(
                "response.output_item.added", output_index=0,
                item={**item, "status": "in_progress", "content": []}))
            await send(request, response, received, event(
                "response.content_part.added", **where, part={**part, "text": ""}))
            for n, piece in enumerate(pieces):
                if n == script.error_after:
                    await send(request, response, received, event(
                        "error", code="server_error", param=None,
                        message="The server had an error while processing your request."))
                    await response.write_eof()
                    return response
                if n == script.die_after:
                    self._die(request, received)
                    return response
                await pace()
                await send(request, response, received, event(
                    "response.output_text.delta", **where, delta=piece, logprobs=[]))
                received.pieces_sent += 1
            await send(request, response, received, event(
                "response.output_text.done", **where, text=text, logprobs=[]))
            await send(request, response, received, event(
                "response.content_part.done", **where, part=part))
            await send(request, response, received, event(
                "response.output_item.done", output_index=0, item=item))
            await send(request, response, received, event(
                "response.completed", response=resource("completed", [item], usage)))
            received.completed = True
            received.finished_at = time.monotonic()
            await response.write_eof()
        except _ClientGone:
            received.disconnected = True
            received.finished_at = time.monotonic()
        return response
