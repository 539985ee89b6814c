"""The tap of one proxied response: its text, and each tool call's arguments, as token streams.

:class:`StreamTap` publishes the answer's text through a
:class:`~midstream.connectors.openai.publisher.TokenPublisher`, gives each tool call's
arguments a token stream of its own, registers every one of these streams with the
:class:`~midstream.connectors.openai.control.ControlFollower`, and at the end closes them
and leaves the follower to count late decisions for a grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from midstream.connectors.openai.gateway.services import (
    LATE_GRACE_SECONDS,
    STOP_FINISH_REASON,
    Services,
)
from midstream.connectors.openai.publisher import TokenPublisher

log = logging.getLogger(__name__)

Decision = Callable[[dict[str, Any]], None]
"""Called on the follower's thread with a control record for the tapped stream."""


class StreamTap:
    """Token streams of one response, and their registration with the control follower.

    Parameters
    ----------
    services
        Shared services (producer, topic, follower, provider).
    route
        ``chat`` or ``responses`` (put in the start event's ``meta``).
    on_decision
        Receives, on the follower's thread, decisions for the answer's stream and the
        ``stop`` decisions for a tool call's arguments.
    """

    def __init__(self, services: Services, route: str, on_decision: Decision) -> None:
        self.services = services
        self.route = route
        self.on_decision = on_decision
        self.stream_id: str | None = None
        self.publisher: TokenPublisher | None = None
        self.tool_publishers: dict[int, TokenPublisher] = {}
        """Each tool call's arguments, tapped as a stream of its own (``<id>.tool<index>``)."""
        self._loop = asyncio.get_running_loop()

    def start(self, stream_id: str, model: str | None) -> None:
        """Start the answer's token stream and follow its decisions."""
        s = self.services
        self.stream_id = stream_id
        self.publisher = TokenPublisher(s.producer, s.tokens_topic, stream_id,
                                        provider=s.config.provider, model=model)
        self.publisher.start(meta={"source": "gateway", "route": self.route})
        if s.follower is not None:
            s.follower.register(stream_id, self.on_decision)

    def delta(self, text: str) -> None:
        """Tap a text delta of the answer (nothing before :meth:`start`)."""
        if self.publisher is not None:
            self.publisher.delta(text)

    def tool_arguments(self, index: int, name: str | None, fragment: str,
                       model: str | None) -> None:
        """Tap a tool call's argument fragment into that call's own token stream.

        The arguments are a text of their own (JSON the model writes), so they get
        their own stream id, ``<stream id>.tool<index>``, and the job's rules and
        loop detector see them without shifting the offsets of the answer's text,
        which redaction spans refer to. A ``stop`` decided on a tool call's
        arguments stops the whole response; ``redact`` does not apply to them (the
        gateway forwards tool-call fragments unchanged) and is only logged.
        """
        publisher = self.tool_publishers.get(index)
        if publisher is None:
            s = self.services
            parent = self.stream_id or "unnamed"
            publisher = TokenPublisher(s.producer, s.tokens_topic, f"{parent}.tool{index}",
                                       provider=s.config.provider, model=model)
            meta: dict[str, Any] = {"source": "gateway", "route": self.route,
                                    "parent_stream_id": parent, "tool_call_index": index}
            if name:
                meta["tool_name"] = name
            publisher.start(meta=meta)
            self.tool_publishers[index] = publisher
            if s.follower is not None:
                s.follower.register(publisher.stream_id, self._from_tool_follower)
        if fragment:
            publisher.delta(fragment)

    def _from_tool_follower(self, record: dict[str, Any]) -> None:
        if record.get("action") == "stop":
            self.on_decision(record)
        else:
            log.info("%s decision on tool-call arguments of stream %s not applied: "
                     "the gateway forwards tool calls unchanged", record.get("action"),
                     self.stream_id)

    def end(self, *, stopped: bool, finish_reason: str | None, usage: dict[str, Any] | None,
            meta: dict[str, Any] | None, delivered_chars: int) -> None:
        """Close every token stream; the follower forgets them after a grace period.

        Decisions still in flight reach the stream for a while, which counts them as
        late (a metric) and logs how much was delivered; then the follower takes over.
        """
        s = self.services
        if s.follower is not None and self.stream_id is not None:
            self._loop.call_later(LATE_GRACE_SECONDS, s.follower.unregister, self.stream_id,
                                  delivered_chars)
        finish = STOP_FINISH_REASON if stopped else finish_reason
        if self.publisher is not None:
            self.publisher.end(finish_reason=finish, usage=usage, meta=meta)
        for publisher in self.tool_publishers.values():
            publisher.end(finish_reason=finish)
            if s.follower is not None:
                self._loop.call_later(LATE_GRACE_SECONDS, s.follower.unregister,
                                      publisher.stream_id, publisher.chars)
