"""The Realtime relay with the real broker and the real job (flows/llm_stream.py).

The upstream is the stand-in (connectors/openai/standin/realtime.py), sending
OpenAI's GA and beta Realtime event sequences; OpenAI's servers are
unreachable here. The client is aiohttp's WebSocket client (the openai SDK's
Realtime client needs the ``websockets`` package, which is not installed).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from midstream.connectors.kafka import ClientSettings, make_producer
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.realtime import RealtimeRelay, RelayConfig, RelayMetrics
from midstream.core import events as contract
from midstream.core.config import Topics
from tests.doubles.openai_upstream.realtime import RealtimeScript, StandinRealtime
from tests.integration.jobs import (
    consume_all,
    fresh_topics,
    job_on_fresh_topics,
    produce,
)

KEY = "mk-relay"
WORDS = tuple(f" word{i}" for i in range(120))
LEAK = (" here", " it", " is:", " sk-ABCDEFGHIJKLMNOPQRSTUV0123456789", " and")
AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")


class Relayed:
    """Stand-in upstream + relay with a real producer and control follower."""

    def __init__(self, brokers: str, topics: Topics, script: RealtimeScript) -> None:
        self.brokers = brokers
        self.topics = topics
        self.upstream = StandinRealtime(script)
        self.producer = make_producer(ClientSettings(brokers))
        self.follower = ControlFollower(brokers, topics.control)
        self.relay: RealtimeRelay | None = None
        self.url = ""

    async def __aenter__(self) -> Relayed:
        self.follower.start()
        assert await asyncio.to_thread(self.follower.ready.wait, 30)
        upstream_url = await self.upstream.start()
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
        config = RelayConfig(upstream=upstream_url, port=0, client_keys=frozenset({KEY}),
                             tokens_topic=self.topics.tokens,
                             control_topic=self.topics.control)
        self.relay = RealtimeRelay(config, producer=self.producer, follower=self.follower,
                                   metrics=RelayMetrics(registry), registry=registry)
        self.url = await self.relay.start() + "/v1/realtime?model=gpt-realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.relay is not None
        await self.relay.close()
        await self.upstream.close()
        self.follower.stop()
        assert self.producer.flush(10) == 0

    def live_stream_id(self) -> str:
        assert self.relay is not None
        tap = self.relay.sessions[-1]
        (response_id,) = tap.live
        return tap.stream_id(response_id)


async def play(relayed: Relayed, beta: bool, stop_after_audio: int | None
               ) -> tuple[list[dict[str, Any]], float]:
    """One audio response; optionally produce a stop on the control topic mid-way.

    Returns the client's events and the seconds from producing the stop to response.done.
    """
    events: list[dict[str, Any]] = []
    produced_at = 0.0
    headers = {"Authorization": f"Bearer {KEY}"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    async with aiohttp.ClientSession() as http, http.ws_connect(
            relayed.url, headers=headers, max_msg_size=16 << 20) as ws:
        await ws.send_str(json.dumps({"type": "response.create"}))
        audio = 0
        async with asyncio.timeout(30):
            async for message in ws:
                event = json.loads(message.data)
                events.append(event)
                if event["type"] in AUDIO_DELTAS:
                    audio += 1
                    if audio == stop_after_audio:
                        produced_at = time.monotonic()
                        await asyncio.to_thread(produce, relayed.brokers, relayed.topics.control,
                                                [{"v": 1, "id": "c1", "ts": time.time(),
                                                  "stream_id": relayed.live_stream_id(),
                                                  "action": "stop", "reason": "operator",
                                                  "at_seq": 3}])
                if event["type"] == "response.done":
                    done_at = time.monotonic()
                    if stop_after_audio is None:
                        break
                if event["type"] == "conversation.item.truncated":
                    break
    return events, (done_at - produced_at if produced_at else 0.0)


def valid(records: list[dict[str, Any]]) -> None:
    for record in records:
        parsed = contract.parse_token_event(orjson.dumps(record))
        assert isinstance(parsed, contract.TokenEvent), parsed


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_relay_taps_into_kafka_and_a_control_stop_cancels_and_truncates(
        kafka_brokers: str, make_topics: Any, beta: bool) -> None:
    topics = fresh_topics(make_topics, partitions=1)
    script = RealtimeScript(pieces=WORDS[:6])
    slow = RealtimeScript(pieces=WORDS, pace=0.03)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
        async with Relayed(kafka_brokers, topics, script) as relayed:
            complete, _ = await play(relayed, beta, None)
        async with Relayed(kafka_brokers, topics, slow) as relayed:
            stopped, latency = await play(relayed, beta, 5)
            received = relayed.upstream.connections[0].received
        assert [e["type"] for e in received] == [
            "response.create", "response.cancel", "conversation.item.truncate"]
        assert 0 < received[2]["audio_end_ms"] <= 100 * sum(
            e["type"] in AUDIO_DELTAS for e in stopped)
        return complete, stopped, latency

    complete, stopped, latency = asyncio.run(scenario())
    assert complete[-1]["response"]["status"] == "completed"
    done = next(e for e in stopped if e["type"] == "response.done")
    assert done["response"]["status"] == "cancelled"
    assert sum(e["type"] in AUDIO_DELTAS for e in stopped) < len(WORDS)
    assert latency < 2.0
    records = consume_all(kafka_brokers, topics.tokens)
    valid(records)
    streams: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        streams.setdefault(record["stream_id"], []).append(record)
    assert len(streams) == 2
    first, second = sorted(streams.values(), key=lambda events: events[-1]["ts"])
    assert [e["kind"] for e in first] == ["start"] + ["delta"] * 6 + ["end"]
    assert "".join(e["text"] for e in first[1:-1]) == "".join(WORDS[:6])
    assert first[-1]["meta"]["finish_reason"] == "completed"
    assert first[-1]["meta"]["audio"]["seconds"] == pytest.approx(0.6)
    assert first[-1]["meta"]["usage"]["output_tokens"] == 18
    assert second[-1]["meta"]["finish_reason"] == "cancelled"
    assert second[-1]["meta"]["stop_reason"] == "operator"


@pytest.fixture(scope="module")
def job_topics(kafka_brokers: str) -> Iterator[Topics]:
    """Fresh topics with the job running on them, warmed up (it has decided once)."""
    with job_on_fresh_topics(kafka_brokers, LEAK) as topics:
        yield topics


def test_the_job_stops_a_spoken_response_mid_flight(kafka_brokers: str,
                                                    job_topics: Topics) -> None:
    """A credential in the audio transcript: the job's stop cancels and truncates upstream."""
    script = RealtimeScript(pieces=WORDS[:5] + LEAK + WORDS[5:], pace=0.03)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with Relayed(kafka_brokers, job_topics, script) as relayed:
            headers = {"Authorization": f"Bearer {KEY}"}
            events: list[dict[str, Any]] = []
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    relayed.url, headers=headers, max_msg_size=16 << 20) as ws:
                await ws.send_str(json.dumps({"type": "response.create"}))
                async with asyncio.timeout(30):
                    async for message in ws:
                        events.append(json.loads(message.data))
                        if events[-1]["type"] == "conversation.item.truncated":
                            break
            return events, relayed.upstream.connections[0].received

    events, received = asyncio.run(scenario())
    done = next(e for e in events if e["type"] == "response.done")
    assert done["response"]["status"] == "cancelled"
    assert [e["type"] for e in received] == [
        "response.create", "response.cancel", "conversation.item.truncate"]
    audio = sum(e["type"] in AUDIO_DELTAS for e in events)
    # The leak is the 9th piece (its audio goes out just before its transcript); 125 planned.
    assert 9 <= audio < 60
    stops = [r for r in consume_all(kafka_brokers, job_topics.control) if r["action"] == "stop"]
    assert [r["reason"] for r in stops] == ["credential_leak", "credential_leak"]  # warm-up too
