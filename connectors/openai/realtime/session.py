"""One relayed Realtime session: what its events mean for Kafka, and how MidStream stops a response.

:class:`SessionTap` sees every event the relay passes on (it never changes
them) and keeps, per response id, a contract-v1 token stream:

- ``start`` on ``response.created`` (``meta``: ``response_id``, ``session_id``,
  ``api: "realtime"``);
- one ``delta`` per text delta (``meta.event: "output_text"``) and per audio
  transcript delta (``meta.event: "output_audio_transcript"``), GA or beta names;
- audio deltas are *not* token events. Their statistics are aggregated:
  every text or transcript delta carries ``meta.audio``, the audio relayed for
  the response since the previous delta (``chunks``, ``bytes``, ``seconds``,
  ``rms_dbfs``), and the ``end`` event carries the response's totals. An
  empty-text delta per audio chunk would look like a token to MidStream's
  analysis: it would distort inter-token latency and could even read as a
  repetition loop of empty tokens;
- ``end`` on ``response.done``, with ``finish_reason`` = the response's
  ``status`` (``completed``, ``cancelled``, ``incomplete``, ``failed``) and its
  ``usage``; responses still live when the connection closes end with
  ``disconnected``.

Each response's stream registers with the :class:`ControlFollower`. A ``stop``
for a live response sends ``response.cancel`` (with the ``response_id``)
upstream and, when the response's audio was playing, ``conversation.item.truncate``
for the audio item (``content_index`` 0, ``audio_end_ms`` = the audio played so
far). Output deltas of that response that still arrive afterwards are not
relayed: the stop takes effect at once, not when the upstream catches up. The
upstream's own answers (``response.done`` with status ``cancelled``,
``conversation.item.truncated``) pass through to the client unchanged.

Audio played so far is estimated as ``min(audio relayed for the item, time since
its first audio chunk was relayed)``: the client cannot have played more than it
got, nor faster than real time. The upstream rejects a truncation past the
audio it sent, which this bound never exceeds.

Examples
--------
>>> sent = []
>>> tap = SessionTap(producer=None, topic="tokens", connection_id="c1",
...                  send_upstream=sent.append, schedule=lambda call: call())
>>> for event in ({"type": "response.created", "response": {"id": "r1"}},
...               {"type": "response.text.delta", "response_id": "r1", "delta": "Hi"},
...               {"type": "response.done", "response": {"id": "r1", "status": "completed"}}):
...     tap.on_upstream(event)
True
True
True
>>> tap.finished["r1"].deltas, tap.finished["r1"].last_event.meta["finish_reason"]
(1, 'completed')
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.publisher import TokenPublisher
from midstream.connectors.openai.realtime import events as ev
from midstream.connectors.openai.realtime.audio import (
    PCM16_24K,
    AudioFormat,
    AudioTally,
    output_format,
)
from midstream.core.metrics import RelayMetrics

log = logging.getLogger(__name__)

FINISHED_REMEMBERED = 64
"""Finished responses whose publishers are kept (for inspection and tests)."""


@dataclass
class ResponseState:
    """What the relay knows about one live response."""

    response_id: str
    publisher: TokenPublisher
    audio: AudioTally = field(default_factory=AudioTally)
    audio_since_delta: AudioTally = field(default_factory=AudioTally)
    audio_item_id: str | None = None
    audio_item_bytes: int = 0
    audio_item_started: float | None = None
    stopped: bool = False
    stop_reason: str | None = None


class SessionTap:
    """The relay's view of one session: token streams per response, stops, metrics.

    Parameters
    ----------
    producer
        Kafka producer for the token events (None: the tap counts but publishes nothing).
    topic
        The token topic.
    connection_id
        Makes stream ids unique per relayed connection: ``realtime-<connection_id>-<response_id>``.
    send_upstream
        Sends one text frame to the upstream (called on the event loop).
    schedule
        Runs a callable on the event loop from any thread (``loop.call_soon_threadsafe``).
    follower
        Control decisions for this session's responses (None: no acting mid-stream).
    metrics
        The relay's metrics (None: not counted).
    provider, model
        Copied into the token events; ``model`` is replaced by the session's when it announces one.
    """

    def __init__(self, *, producer: Producer | None, topic: str, connection_id: str,
                 send_upstream: Callable[[str], None],
                 schedule: Callable[[Callable[[], object]], object],
                 follower: ControlFollower | None = None, metrics: RelayMetrics | None = None,
                 provider: str = "openai", model: str | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._producer = producer
        self._topic = topic
        self.connection_id = connection_id
        self._send_upstream = send_upstream
        self._schedule = schedule
        self._follower = follower
        self._metrics = metrics
        self.provider = provider
        self.model = model
        self._clock = clock
        self._monotonic = monotonic
        self.session_id: str | None = None
        self.output_format: AudioFormat = PCM16_24K
        self.input_format: AudioFormat = PCM16_24K
        self.live: dict[str, ResponseState] = {}
        self.finished: dict[str, TokenPublisher] = {}
        self.sent_commands: list[dict[str, Any]] = []
        """Events the relay itself sent upstream (``response.cancel``, truncations)."""
        self._event_ids = itertools.count(1)

    def stream_id(self, response_id: str) -> str:
        """Return the Kafka stream id of one response."""
        return f"realtime-{self.connection_id}-{response_id}"

    # -- events from the upstream -------------------------------------------------------------

    @property
    def holding_back(self) -> bool:
        """True while a stopped response is live: frames must pass :meth:`admit` first."""
        return any(state.stopped for state in self.live.values())

    def admit(self, event: dict[str, Any]) -> bool:
        """Whether an upstream event may be relayed: False for output deltas after a stop.

        Cheap (a dict lookup or two), so the relay calls it before forwarding and
        leaves the tapping (:meth:`on_upstream`) until the frame is on its way.
        """
        event_type = event.get("type")
        if not isinstance(event_type, str) or ev.KIND.get(event_type) not in ev.DELTA_KINDS:
            return True
        response_id = event.get("response_id")
        state = self.live.get(response_id) if isinstance(response_id, str) else None
        if state is None or not state.stopped:
            return True
        if self._metrics is not None:
            self._metrics.suppressed_deltas.inc()
        return False

    def on_upstream(self, event: dict[str, Any]) -> bool:
        """Tap one upstream event; False when it must not be relayed (see :meth:`admit`)."""
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return True
        if self._metrics is not None:
            self._metrics.events.labels("upstream", ev.family(event_type)).inc()
        kind = ev.KIND.get(event_type)
        if kind is None:
            return True
        if kind in ev.DELTA_KINDS:
            return self._on_delta(kind, event)
        if kind == ev.RESPONSE_CREATED:
            response = event.get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self._response(response["id"])
        elif kind == ev.RESPONSE_DONE:
            self._on_done(event)
        elif kind == ev.SESSION:
            self._on_session(event)
        return True

    def _on_session(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            return
        if isinstance(session.get("id"), str):
            self.session_id = session["id"]
        if isinstance(session.get("model"), str):
            self.model = session["model"]
        self.output_format = output_format(session, "output") or self.output_format
        self.input_format = output_format(session, "input") or self.input_format

    def _response(self, response_id: str) -> ResponseState:
        state = self.live.get(response_id)
        if state is None:
            stream_id = self.stream_id(response_id)
            publisher = TokenPublisher(self._producer, self._topic, stream_id,
                                       provider=self.provider, model=self.model,
                                       clock=self._clock)
            meta: dict[str, Any] = {"source": "realtime", "api": "realtime",
                                    "response_id": response_id}
            if self.session_id is not None:
                meta["session_id"] = self.session_id
            publisher.start(meta=meta)
            state = self.live[response_id] = ResponseState(response_id, publisher)
            if self._follower is not None:
                self._follower.register(stream_id, self._control_callback(response_id))
        return state

    def _on_delta(self, kind: str, event: dict[str, Any]) -> bool:
        response_id = event.get("response_id")
        if not isinstance(response_id, str):
            return True
        state = self.live.get(response_id)
        if state is None:
            if response_id in self.finished:
                return True  # a straggler after response.done: relay it, tap nothing
            state = self._response(response_id)
        if state.stopped:
            return False
        delta = event.get("delta")
        if not isinstance(delta, str):
            return True
        if kind == ev.AUDIO_DELTA:
            self._on_audio(state, event, delta)
            return True
        meta: dict[str, Any] = {"event": ev.META_EVENT[kind]}
        if state.audio_since_delta.chunks:
            meta["audio"] = state.audio_since_delta.summary()
            state.audio_since_delta = AudioTally()
        if isinstance(event.get("item_id"), str):
            meta["item_id"] = event["item_id"]
        state.publisher.delta(delta, meta=meta)
        return True

    def _on_audio(self, state: ResponseState, event: dict[str, Any], delta: str) -> None:
        try:
            chunk = base64.b64decode(delta, validate=True)
        except (binascii.Error, ValueError):
            log.debug("an audio delta that is not base64 was relayed untapped")
            return
        fmt = self.output_format
        state.audio.add(chunk, fmt)
        state.audio_since_delta.add(chunk, fmt)
        item_id = event.get("item_id")
        if isinstance(item_id, str) and item_id != state.audio_item_id:
            state.audio_item_id = item_id
            state.audio_item_bytes = 0
            state.audio_item_started = None
        if state.audio_item_started is None:
            state.audio_item_started = self._monotonic()
        state.audio_item_bytes += len(chunk)
        if self._metrics is not None:
            self._metrics.audio_seconds.labels("output").inc(fmt.seconds(len(chunk)))

    def _on_done(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            return
        state = self.live.get(response["id"])
        if state is None:
            if response["id"] in self.finished:
                return
            state = self._response(response["id"])
        status = response.get("status")
        usage = response.get("usage")
        self._end(state, status if isinstance(status, str) else None,
                  usage if isinstance(usage, dict) else None, response.get("status_details"))

    def _end(self, state: ResponseState, finish_reason: str | None,
             usage: dict[str, Any] | None, status_details: Any = None) -> None:
        meta: dict[str, Any] = {"api": "realtime", "response_id": state.response_id}
        if state.audio.chunks:
            meta["audio"] = state.audio.summary()
        if state.stopped:
            meta["stopped_by"] = "midstream"
            meta["stop_reason"] = state.stop_reason
        if isinstance(status_details, dict):
            meta["status_details"] = status_details
        state.publisher.end(finish_reason=finish_reason, usage=usage, meta=meta)
        del self.live[state.response_id]
        self.finished[state.response_id] = state.publisher
        while len(self.finished) > FINISHED_REMEMBERED:
            del self.finished[next(iter(self.finished))]
        if self._follower is not None:
            self._follower.unregister(state.publisher.stream_id,
                                      delivered_chars=state.publisher.chars)

    def close(self) -> None:
        """Close with the connection: responses still live end as ``disconnected``."""
        for state in list(self.live.values()):
            self._end(state, "disconnected", None)

    # -- events from the client ---------------------------------------------------------------

    def on_client(self, event: dict[str, Any]) -> None:
        """Account for one client event (metrics only: client events are never changed)."""
        event_type = event.get("type")
        if not isinstance(event_type, str) or self._metrics is None:
            return
        self._metrics.events.labels("client", ev.family(event_type)).inc()
        if event_type == "input_audio_buffer.append":
            audio = event.get("audio")
            if isinstance(audio, str):
                n_bytes = len(audio) * 3 // 4 - audio[-2:].count("=")
                self._metrics.audio_seconds.labels("input").inc(
                    self.input_format.seconds(max(n_bytes, 0)))

    # -- MidStream's decisions ----------------------------------------------------------------

    def _control_callback(self, response_id: str) -> Callable[[dict[str, Any]], None]:
        def on_record(record: dict[str, Any]) -> None:  # the follower's thread
            if record.get("action") == "stop":
                self._schedule(lambda: self.stop(response_id, str(record.get("reason") or "stop")))

        return on_record

    def stop(self, response_id: str, reason: str) -> list[dict[str, Any]]:
        """Stop a live response: cancel it upstream, truncate its audio if it was playing.

        Returns the events sent upstream (none when the response is not live or
        was already stopped).
        """
        state = self.live.get(response_id)
        if state is None or state.stopped:
            if self._metrics is not None:
                self._metrics.stops.labels("not_live" if state is None
                                           else "already_stopped").inc()
            return []
        state.stopped = True
        state.stop_reason = reason
        commands: list[dict[str, Any]] = [{
            "type": "response.cancel", "event_id": self._event_id("cancel"),
            "response_id": response_id,
        }]
        if state.audio_item_id is not None and state.audio_item_started is not None:
            relayed_ms = self.output_format.seconds(state.audio_item_bytes) * 1000.0
            elapsed_ms = (self._monotonic() - state.audio_item_started) * 1000.0
            commands.append({
                "type": "conversation.item.truncate", "event_id": self._event_id("truncate"),
                "item_id": state.audio_item_id, "content_index": 0,
                "audio_end_ms": int(max(0.0, min(relayed_ms, elapsed_ms))),
            })
        for command in commands:
            self._send_upstream(json.dumps(command))
        self.sent_commands.extend(commands)
        if self._metrics is not None:
            self._metrics.stops.labels("cancel_sent").inc()
            if len(commands) > 1:
                self._metrics.truncations.inc()
        log.info("stopped realtime response %s (%s)", response_id, reason)
        return commands

    def _event_id(self, what: str) -> str:
        return f"midstream_{what}_{self.connection_id}_{next(self._event_ids)}"
