"""The SDK tap with the real broker, the real openai SDK and the real job (flows/llm_stream.py).

The upstream is the local stand-in (connectors/openai/standin/http.py), which
speaks OpenAI's exact wire formats; OpenAI's servers are unreachable here.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from midstream.connectors.kafka import ClientSettings, make_producer
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.tap import tap
from midstream.core import events as contract
from midstream.core.config import Topics
from tests.doubles.openai_upstream.http import Script, StandinUpstream
from tests.integration.jobs import (
    consume_all,
    fresh_topics,
    job_on_fresh_topics,
    produce,
)

WORDS = tuple(f" word{i}" for i in range(300))
LEAK = (" here", " it", " is:", " sk-ABCDEFGHIJKLMNOPQRSTUV0123456789", " and")
SCRIPTS = {
    "plain": Script(pieces=("Hello", ",", " world", "!")),
    "slow": Script(pieces=WORDS, pacing=0.02),
    "leaky": Script(pieces=WORDS[:5] + LEAK + WORDS[5:], pacing=0.02),
}
MESSAGES: Any = [{"role": "user", "content": "hi"}]


class ThreadedStandin:
    """The stand-in HTTP upstream on its own event loop thread (the sync SDK blocks)."""

    def __init__(self) -> None:
        self.upstream = StandinUpstream(SCRIPTS)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base_url = asyncio.run_coroutine_threadsafe(self.upstream.start(),
                                                         self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.upstream.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def standin() -> Iterator[ThreadedStandin]:
    server = ThreadedStandin()
    try:
        yield server
    finally:
        server.close()


def by_stream(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    streams: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        streams.setdefault(record["stream_id"], []).append(record)
    return streams


def valid(records: list[dict[str, Any]]) -> None:
    """Every record passes the job's own contract-v1 validation."""
    import orjson

    for record in records:
        parsed = contract.parse_token_event(orjson.dumps(record))
        assert isinstance(parsed, contract.TokenEvent), parsed


def test_tapped_sdk_streams_reach_the_token_topic(kafka_brokers: str, make_topics: Any,
                                                  standin: ThreadedStandin) -> None:
    topics = fresh_topics(make_topics, partitions=1)
    producer = make_producer(ClientSettings(kafka_brokers))
    client = openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)
    stream = client.chat.completions.create(model="plain", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(tap(stream, producer=producer, topic=topics.tokens, stream_id="tap-chat"))
    assert chunks[-1].usage is not None

    async def responses() -> None:
        aclient = openai.AsyncOpenAI(base_url=standin.base_url, api_key="sk-test",
                                     max_retries=0)
        astream = await aclient.responses.create(model="plain", input="hi", stream=True)
        async for _ in tap(astream, producer=producer, topic=topics.tokens,
                           stream_id="tap-responses"):
            pass
        await aclient.close()

    asyncio.run(responses())
    assert producer.flush(10) == 0
    # With brokers= the tap makes its own producer and flushes it when the stream ends.
    stream = client.chat.completions.create(model="plain", messages=MESSAGES, stream=True)
    list(tap(stream, brokers=kafka_brokers, topic=topics.tokens, stream_id="tap-own"))
    records = consume_all(kafka_brokers, topics.tokens, expect=18)
    valid(records)
    streams = by_stream(records)
    for stream_id, api, finish, usage_key in (
            ("tap-chat", "chat.completions", "stop", "completion_tokens"),
            ("tap-responses", "responses", "completed", "output_tokens")):
        events = streams[stream_id]
        assert [e["kind"] for e in events] == ["start", "delta", "delta", "delta", "delta", "end"]
        assert "".join(e["text"] for e in events[1:-1]) == "Hello, world!"
        assert events[-1]["meta"]["finish_reason"] == finish
        assert events[-1]["meta"]["api"] == api
        assert events[-1]["meta"]["usage"][usage_key] == 4
        assert events[-1]["model"] == "plain"
    assert [e["kind"] for e in streams["tap-own"]] == ["start"] + ["delta"] * 4 + ["end"]


def test_a_stop_on_the_control_topic_ends_the_tapped_stream(
        kafka_brokers: str, make_topics: Any, standin: ThreadedStandin) -> None:
    topics = fresh_topics(make_topics, partitions=1)
    follower = ControlFollower(kafka_brokers, topics.control)
    follower.start()
    try:
        assert follower.ready.wait(30)
        producer = make_producer(ClientSettings(kafka_brokers))
        client = openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
        tapped = tap(stream, producer=producer, topic=topics.tokens, stream_id="tap-stop",
                     follower=follower)
        produced_at = 0.0
        for count, _ in enumerate(tapped, 1):
            if count == 5:
                produced_at = time.monotonic()
                produce(kafka_brokers, topics.control, [{
                    "v": 1, "id": "c1", "stream_id": "tap-stop", "ts": time.time(),
                    "action": "stop", "reason": "operator", "at_seq": 4}])
        stop_latency = time.monotonic() - produced_at
        assert tapped.stopped and tapped.stop_reason == "operator"
        assert stream.response.is_closed
        received = standin.upstream.received[-1]
        deadline = time.monotonic() + 10
        while not received.disconnected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received.disconnected and not received.completed
        assert received.pieces_sent < 100
        assert stop_latency < 2.0
        assert producer.flush(10) == 0
        events = consume_all(kafka_brokers, topics.tokens)
        assert events[-1]["kind"] == "end"
        assert events[-1]["meta"]["finish_reason"] == "cancelled"
        assert events[-1]["meta"]["stop_reason"] == "operator"
    finally:
        follower.stop()


@pytest.fixture(scope="module")
def job_topics(kafka_brokers: str) -> Iterator[Topics]:
    """Fresh topics with the job running on them, warmed up (it has decided once)."""
    with job_on_fresh_topics(kafka_brokers, LEAK) as topics:
        yield topics


def test_the_job_stops_a_tapped_stream_mid_flight(kafka_brokers: str, job_topics: Topics,
                                                  standin: ThreadedStandin) -> None:
    follower = ControlFollower(kafka_brokers, job_topics.control)
    follower.start()
    try:
        assert follower.ready.wait(30)
        producer = make_producer(ClientSettings(kafka_brokers))
        client = openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(model="leaky", messages=MESSAGES, stream=True)
        tapped = tap(stream, producer=producer, topic=job_topics.tokens,
                     stream_id=f"tap-leaky-{uuid.uuid4().hex[:8]}", follower=follower)
        chunks = list(tapped)
        assert tapped.stopped and tapped.stop_reason == "credential_leak"
        assert 10 <= len(chunks) < 100  # the leak is chunk 9 (after the role chunk)
        received = standin.upstream.received[-1]
        deadline = time.monotonic() + 10
        while not received.disconnected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received.disconnected and received.pieces_sent < 100
    finally:
        follower.stop()
