"""A local Realtime API upstream (WebSocket) sending OpenAI's GA and beta event sequences.

OpenAI's servers cannot be reached from where MidStream is built and tested, so
the Realtime relay's tests run against this stand-in. It is not a model: it
plays a :class:`RealtimeScript` (text pieces, and for audio responses a PCM16
tone per piece) with the event names and shapes of OpenAI's Realtime API
(DESIGN.md, "OpenAI wire formats"). A client that sends ``OpenAI-Beta:
realtime=v1`` gets the beta names, any other client the GA names:

====================================  =====================================
GA                                    beta
====================================  =====================================
response.output_text.delta            response.text.delta
response.output_audio.delta           response.audio.delta
response.output_audio_transcript...   response.audio_transcript.delta
conversation.item.added               conversation.item.created
====================================  =====================================

The sequences: ``session.created`` on connect; ``session.updated`` for
``session.update``; for appended and committed input audio
``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed`` and
``conversation.item.input_audio_transcription.delta`` / ``completed``; for
``response.create`` ``response.created``, ``response.output_item.added``, the
item event, ``response.content_part.added``, the deltas (audio responses
interleave one base64 PCM16 audio delta, 24 kHz mono, with one transcript
delta per piece), the ``.done`` events and ``response.done`` with ``status`` and
``usage``.

It honours ``response.cancel`` (stops sending, then ``response.done`` with
status ``cancelled``; an ``error`` when no response is active) and
``conversation.item.truncate`` (``conversation.item.truncated``, or an error
when ``audio_end_ms`` is past the audio it sent). It records every client
event it received (:attr:`StandinRealtime.received`) and each connection's
headers and query.

Examples
--------
>>> import asyncio
>>> async def demo():
...     upstream = StandinRealtime()
...     url = await upstream.start()
...     await upstream.close()
...     return url.startswith("ws://127.0.0.1:") and url.endswith("/v1/realtime")
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class RealtimeScript:
    """What the stand-in answers to every ``response.create``.

    Parameters
    ----------
    pieces
        The answer, one delta per piece.
    chunk_ms
        Audio per piece in audio responses (a sine tone).
    pace
        Seconds between pieces (0: as fast as possible).
    tone_hz, amplitude
        The tone (amplitude as a fraction of full scale).
    input_transcript
        Pieces of the transcription of committed input audio.
    """

    pieces: tuple[str, ...] = ("Hello", " from", " the", " stand", "-in", ".")
    chunk_ms: int = 100
    pace: float = 0.0
    tone_hz: float = 440.0
    amplitude: float = 0.5
    input_transcript: tuple[str, ...] = ("What", " time", " is", " it?")


def tone(ms: int, hz: float, amplitude: float, start_sample: int = 0) -> bytes:
    """``ms`` milliseconds of a PCM16 little-endian sine at 24 kHz."""
    count = SAMPLE_RATE * ms // 1000
    scale = amplitude * 32767
    return struct.pack(f"<{count}h", *(
        round(scale * math.sin(2 * math.pi * hz * (start_sample + i) / SAMPLE_RATE))
        for i in range(count)))


@dataclass
class Connection:
    """One client connection as the stand-in saw it."""

    beta: bool
    query: dict[str, str]
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    """The text frames sent, exactly as written (compact JSON, as OpenAI sends it)."""


class _Session:
    """One connection's conversation: plays responses, honours cancel and truncate."""

    def __init__(self, ws: web.WebSocketResponse, conn: Connection, script: RealtimeScript,
                 ids: itertools.count[int]) -> None:
        self.ws = ws
        self.conn = conn
        self.script = script
        self.ids = ids
        self.beta = conn.beta
        self.modalities = ["text", "audio"]
        self.active: tuple[str, asyncio.Task[None]] | None = None
        self.audio_ms: dict[str, int] = {}
        self.input_bytes = 0
        self.speaking = False

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):06d}"

    def name(self, ga: str, beta: str) -> str:
        return beta if self.beta else ga

    async def send(self, event: dict[str, Any]) -> None:
        event = {"event_id": self._id("event"), **event}
        frame = json.dumps(event, separators=(",", ":"))
        self.conn.sent.append(event)
        self.conn.frames.append(frame)
        await self.ws.send_str(frame)

    def session_object(self) -> dict[str, Any]:
        model = self.conn.query.get("model", "gpt-realtime")
        if self.beta:
            return {"id": "sess_standin", "object": "realtime.session", "model": model,
                    "modalities": self.modalities, "voice": "alloy",
                    "input_audio_format": "pcm16", "output_audio_format": "pcm16",
                    "turn_detection": None, "temperature": 0.8,
                    "max_response_output_tokens": "inf"}
        return {"type": "realtime", "object": "realtime.session", "id": "sess_standin",
                "model": model, "output_modalities": ["audio"],
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}},
                          "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                                     "voice": "alloy"}}}

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            session = event.get("session") or {}
            modalities = session.get("modalities") or session.get("output_modalities")
            if isinstance(modalities, list):
                self.modalities = modalities
            await self.send({"type": "session.updated", "session": self.session_object()})
        elif kind == "input_audio_buffer.append":
            self.input_bytes += len(base64.b64decode(event.get("audio", "")))
            if not self.speaking:
                self.speaking = True
                await self.send({"type": "input_audio_buffer.speech_started",
                                 "audio_start_ms": 0, "item_id": "item_input"})
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "response.create":
            if self.active is not None:
                await self._error("conversation_already_has_active_response",
                                  "Conversation already has an active response")
                return
            response = event.get("response") or {}
            modalities = (response.get("modalities") or response.get("output_modalities")
                          or self.modalities)
            response_id = self._id("resp")
            task = asyncio.ensure_future(self._respond(response_id, "audio" in modalities))
            self.active = (response_id, task)
        elif kind == "response.cancel":
            await self._cancel(event.get("response_id"))
        elif kind == "conversation.item.truncate":
            await self._truncate(event)

    async def _error(self, code: str, message: str, event_id: str | None = None) -> None:
        await self.send({"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message, "param": None,
            "event_id": event_id}})

    async def _commit(self) -> None:
        ms = self.input_bytes * 1000 // (SAMPLE_RATE * 2)
        item_id = self._id("item")
        self.speaking = False
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms,
                         "item_id": item_id})
        await self.send({"type": "input_audio_buffer.committed", "previous_item_id": None,
                         "item_id": item_id})
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}
        await self.send({"type": self.name("conversation.item.added",
                                           "conversation.item.created"),
                         "previous_item_id": None, "item": item})
        for piece in self.script.input_transcript:
            await self.send({"type": "conversation.item.input_audio_transcription.delta",
                             "item_id": item_id, "content_index": 0, "delta": piece})
        await self.send({"type": "conversation.item.input_audio_transcription.completed",
                         "item_id": item_id, "content_index": 0,
                         "transcript": "".join(self.script.input_transcript)})
        self.input_bytes = 0

    def _response(self, response_id: str, status: str, output: list[dict[str, Any]],
                  usage: dict[str, Any] | None, status_details: Any = None) -> dict[str, Any]:
        return {"object": "realtime.response", "id": response_id, "status": status,
                "status_details": status_details, "output": output, "usage": usage,
                "conversation_id": "conv_standin"}

    async def _respond(self, response_id: str, audio: bool) -> None:
        item_id = self._id("item")
        item = {"id": item_id, "object": "realtime.item", "type": "message",
                "role": "assistant", "status": "in_progress", "content": []}
        part_type = ("audio" if audio else "text") if self.beta else \
            ("output_audio" if audio else "output_text")
        text = ""
        sent_ms = 0
        try:
            await self.send({"type": "response.created",
                             "response": self._response(response_id, "in_progress", [], None)})
            await self.send({"type": "response.output_item.added", "response_id": response_id,
                             "output_index": 0, "item": item})
            await self.send({"type": self.name("conversation.item.added",
                                               "conversation.item.created"),
                             "previous_item_id": None, "item": item})
            await self.send({"type": "response.content_part.added", "response_id": response_id,
                             "item_id": item_id, "output_index": 0, "content_index": 0,
                             "part": {"type": part_type}})
            where = {"response_id": response_id, "item_id": item_id, "output_index": 0,
                     "content_index": 0}
            for piece in self.script.pieces:
                if self.script.pace:
                    await asyncio.sleep(self.script.pace)
                if audio:
                    chunk = tone(self.script.chunk_ms, self.script.tone_hz,
                                 self.script.amplitude, sent_ms * SAMPLE_RATE // 1000)
                    await self.send({"type": self.name("response.output_audio.delta",
                                                       "response.audio.delta"), **where,
                                     "delta": base64.b64encode(chunk).decode()})
                    sent_ms += self.script.chunk_ms
                    self.audio_ms[item_id] = sent_ms
                    await self.send({"type": self.name("response.output_audio_transcript.delta",
                                                       "response.audio_transcript.delta"),
                                     **where, "delta": piece})
                else:
                    await self.send({"type": self.name("response.output_text.delta",
                                                       "response.text.delta"), **where,
                                     "delta": piece})
                text += piece
            if audio:
                await self.send({"type": self.name("response.output_audio.done",
                                                   "response.audio.done"), **where})
                await self.send({"type": self.name("response.output_audio_transcript.done",
                                                   "response.audio_transcript.done"), **where,
                                 "transcript": text})
                part = {"type": part_type, "transcript": text}
            else:
                await self.send({"type": self.name("response.output_text.done",
                                                   "response.text.done"), **where, "text": text})
                part = {"type": part_type, "text": text}
            await self.send({"type": "response.content_part.done", **where, "part": part})
            done_item = {**item, "status": "completed", "content": [part]}
            await self.send({"type": "response.output_item.done", "response_id": response_id,
                             "output_index": 0, "item": done_item})
            self.active = None
            await self.send({"type": "response.done", "response": self._response(
                response_id, "completed", [done_item], self._usage(len(self.script.pieces),
                                                                   audio))})
        except asyncio.CancelledError:
            self.active = None
            partial = {**item, "status": "incomplete",
                       "content": [{"type": part_type, "transcript" if audio else "text": text}]}
            await self.send({"type": "response.output_item.done", "response_id": response_id,
                             "output_index": 0, "item": partial})
            await self.send({"type": "response.done", "response": self._response(
                response_id, "cancelled", [partial], self._usage(len(text.split()), audio),
                {"type": "cancelled", "reason": "client_cancelled"})})

    @staticmethod
    def _usage(pieces: int, audio: bool) -> dict[str, Any]:
        output = pieces * (3 if audio else 1)
        return {"total_tokens": 20 + output, "input_tokens": 20, "output_tokens": output,
                "input_token_details": {"cached_tokens": 0, "text_tokens": 20, "audio_tokens": 0},
                "output_token_details": {"text_tokens": pieces,
                                         "audio_tokens": output - pieces}}

    async def _cancel(self, response_id: Any) -> None:
        active = self.active
        if active is None or (isinstance(response_id, str) and response_id != active[0]):
            await self._error("response_cancel_not_active",
                              "Cancellation failed: no active response found")
            return
        active[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await active[1]

    async def _truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        end_ms = event.get("audio_end_ms")
        if not isinstance(item_id, str) or item_id not in self.audio_ms:
            await self._error("item_not_found", f"Item with item_id '{item_id}' not found")
            return
        if not isinstance(end_ms, int) or end_ms < 0 or end_ms > self.audio_ms[item_id]:
            await self._error("invalid_value", "audio_end_ms is greater than the audio duration")
            return
        await self.send({"type": "conversation.item.truncated", "item_id": item_id,
                         "content_index": event.get("content_index", 0),
                         "audio_end_ms": end_ms})


class StandinRealtime:
    """The stand-in Realtime server, on 127.0.0.1 (port 0 by default).

    Parameters
    ----------
    script
        What every response plays.
    api_key
        When set, connections without ``Authorization: Bearer <api_key>`` get 401.
    """

    def __init__(self, script: RealtimeScript | None = None, *, api_key: str | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script or RealtimeScript()
        self.api_key = api_key
        self.host = host
        self.port = port
        self.connections: list[Connection] = []
        self.refused = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every client event received, over all connections, in order per connection."""
        return [event for conn in self.connections for event in conn.received]

    async def start(self) -> str:
        """Listen; returns the Realtime endpoint URL (``ws://127.0.0.1:<port>/v1/realtime``)."""
        app = web.Application()
        app.router.add_get("/v1/realtime", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return f"ws://{self.host}:{self.port}/v1/realtime"

    async def close(self) -> None:
        """Close every connection and stop listening."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.api_key is not None:
            offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(offered.encode(), self.api_key.encode()):
                self.refused += 1
                return web.json_response({"error": {
                    "type": "invalid_request_error", "code": "invalid_api_key",
                    "message": "Incorrect API key provided.", "param": None}}, status=401)
        beta = request.headers.get("OpenAI-Beta", "").startswith("realtime=")
        conn = Connection(beta=beta, query=dict(request.query), headers=dict(request.headers))
        self.connections.append(conn)
        ws = web.WebSocketResponse(protocols=("realtime",), max_msg_size=16 << 20)
        await ws.prepare(request)
        self._sockets.add(ws)
        session = _Session(ws, conn, self.script, self._ids)
        try:
            await session.send({"type": "session.created", "session": session.session_object()})
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    event = json.loads(message.data)
                except ValueError:
                    await session._error("invalid_json", "The message is not valid JSON.")
                    continue
                conn.received.append(event)
                await session.handle(event)
        finally:
            if session.active is not None:
                session.active[1].cancel()
            self._sockets.discard(ws)
        return ws
