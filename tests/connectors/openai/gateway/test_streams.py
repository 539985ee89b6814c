"""Decisions on live streams in the gateway: stop, redact, fail closed, late decisions.

Decisions are handed to the gateway the way the control follower does it
(:meth:`Gateway.decide`), without Kafka; tests/integration/test_gateway_*.py
do the same end to end with the real broker and the real job. The upstream
is the local stand-in (OpenAI's servers are unreachable here).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from midstream.connectors.openai.gateway.streams import LiveStream
from tests.connectors.openai.gateway.servers import CLIENT_KEY, Servers
from tests.doubles.openai_upstream.http import Script

LONG = Script(pieces=tuple(f" word{i}" for i in range(200)), pacing=0.01)
EMAIL_PIECES = ("Sure, write to jane.", "doe@exam", "ple.com", " and I will", " answer soon.")
SCRIPTS = {"long": LONG, "email": Script(pieces=EMAIL_PIECES, pacing=0.02)}
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def _live(servers: Servers, timeout: float = 5.0,
          ready: Callable[[LiveStream], bool] = lambda s: True) -> LiveStream:
    assert servers.gateway is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stream in list(servers.gateway.services.live.values()):
            if ready(stream):
                return stream
        time.sleep(0.002)
    raise AssertionError("no live stream")


def _raw_body(servers: Servers, body: dict[str, Any], path: str = "/chat/completions"
              ) -> bytes:
    async def fetch() -> bytes:
        async with aiohttp.ClientSession() as session, session.post(
                servers.url + path, json=body,
                headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as response:
            assert response.status == 200
            return await response.read()

    return asyncio.run(fetch())


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_stop_ends_the_chat_stream_cleanly_and_cancels_the_upstream() -> None:
    with Servers(SCRIPTS) as servers:
        stream = servers.client().chat.completions.create(
            model="long", messages=MESSAGES, stream=True, max_tokens=200,
            stream_options={"include_usage": True})
        chunks = []
        for chunk in stream:
            chunks.append(chunk)
            if len(chunks) == 6:
                assert servers.decide({"v": 1, "stream_id": chunk.id, "action": "stop",
                                       "reason": "refusal", "at_seq": 5})
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "content_filter" and finishes.count("content_filter") == 1
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        received = servers.upstream.received[-1]
        _wait(lambda: received.disconnected)
        assert not received.completed and received.pieces_sent < 100
        saved = servers.metric("midstream_gateway_tokens_saved_total", {"route": "chat"})
        assert 100 < saved <= 200 - 5
        assert servers.metric("midstream_gateway_stops_total", {"route": "chat"}) == 1


def test_stop_on_the_wire_is_finish_usage_done() -> None:
    with Servers(SCRIPTS) as servers:
        def stop_soon() -> None:
            live = _live(servers, ready=lambda s: s.upstream_chunks >= 3)
            servers.decide({"stream_id": live.stream_id, "action": "stop", "reason": "loop"})

        thread = threading.Thread(target=stop_soon)
        thread.start()
        raw = _raw_body(servers, {"model": "long", "messages": MESSAGES, "stream": True,
                                  "stream_options": {"include_usage": True}})
        thread.join()
        frames = raw.split(b"\n\n")
        assert frames[-1] == b"" and frames[-2] == b"data: [DONE]"
        assert b'"choices":[]' in frames[-3] and b'"usage"' in frames[-3]
        assert b'"finish_reason":"content_filter"' in frames[-4]


def test_stop_ends_a_responses_stream_as_incomplete() -> None:
    with Servers(SCRIPTS) as servers:
        events: list[Any] = []
        for event in servers.client().responses.create(model="long", input="hi", stream=True):
            events.append(event)
            if len(events) == 8:
                assert servers.decide({"stream_id": events[0].response.id, "action": "stop",
                                       "reason": "refusal"})
        assert events[-1].type == "response.incomplete"
        assert events[-1].response.incomplete_details.reason == "content_filter"
        _wait(lambda: servers.upstream.received[-1].disconnected)


def test_redact_decision_replaces_a_split_email_before_it_reaches_the_client() -> None:
    # Fail closed with a long timeout turns the hold-back on without Kafka; decisions are
    # handed over as the follower would (a job is there); the decision arrives first, so
    # its reason (not the local rule's) names the marker.
    with Servers(SCRIPTS, fail_closed=True, decision_timeout=5.0) as servers:
        assert servers.gateway is not None
        servers.gateway.services.job = True
        def decide_when_held() -> None:
            live = _live(servers, ready=lambda s: s.buffer is not None
                         and s.buffer.pending_match())
            assert live.buffer is not None
            text = live.buffer.text
            start = text.index("jane")
            servers.decide({"stream_id": live.stream_id, "action": "redact",
                            "reason": "pii_email", "span": {"start": start,
                                                            "end": start + 20}})

        thread = threading.Thread(target=decide_when_held)
        thread.start()
        began = time.monotonic()
        raw = _raw_body(servers, {"model": "email", "messages": MESSAGES, "stream": True})
        elapsed = time.monotonic() - began
        thread.join()
        assert b"jane" not in raw and b"example" not in raw and b"@" not in raw
        assert b"[redacted:pii_email]" in raw
        assert elapsed < 2.0  # the decision released it, not the 5 s timeout
        assert servers.metric("midstream_gateway_redactions_total",
                              {"route": "chat", "source": "decision"}) == 1
        assert servers.metric("midstream_gateway_holdback_seconds_count",
                              {"route": "chat"}) >= 1


@pytest.mark.parametrize("path,body", [
    ("/chat/completions", {"model": "email", "messages": MESSAGES, "stream": True}),
    ("/chat/completions", {"model": "email", "messages": MESSAGES}),
    ("/responses", {"model": "email", "input": "hi", "stream": True}),
    ("/responses", {"model": "email", "input": "hi"}),
])
def test_fail_closed_redacts_locally_when_no_job_can_decide(path: str, body: dict[str, Any]
                                                             ) -> None:
    with Servers(SCRIPTS, fail_closed=True, decision_timeout=0.1) as servers:
        raw = _raw_body(servers, body, path)
        assert b"jane" not in raw and b"example.com" not in raw
        assert b"[redacted:email_address]" in raw
        assert b"answer" in raw and b"soon." in raw
        # Without Kafka no decision can come: nothing waits for one.
        assert servers.metric("midstream_gateway_decision_timeouts_total",
                              {"mode": "closed"}) == 0


def test_sdk_sees_the_redacted_text() -> None:
    with Servers(SCRIPTS, fail_closed=True, decision_timeout=0.05) as servers:
        stream = servers.client().chat.completions.create(model="email", messages=MESSAGES,
                                                          stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "Sure, write to [redacted:email_address] and I will answer soon."


def test_without_kafka_or_fail_closed_nothing_is_held() -> None:
    with Servers(SCRIPTS) as servers:
        assert servers.gateway is not None and servers.gateway.services.holdback is None
        raw = _raw_body(servers, {"model": "email", "messages": MESSAGES, "stream": True})
        assert b"doe@exam" in raw


def test_decision_after_the_end_is_late() -> None:
    with Servers(SCRIPTS) as servers:
        holder: list[LiveStream] = []
        thread = threading.Thread(target=lambda: holder.append(_live(servers)))
        thread.start()
        _raw_body(servers, {"model": "email", "messages": MESSAGES, "stream": True})
        thread.join()
        assert not servers.decide({"stream_id": holder[0].stream_id, "action": "stop"})
        servers.run(holder[0].apply({"stream_id": holder[0].stream_id, "action": "stop",
                                     "reason": "late"}))
        assert servers.metric("midstream_gateway_late_decisions_total",
                              {"action": "stop"}) == 1
