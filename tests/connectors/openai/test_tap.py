"""The SDK tap with the real ``openai`` SDK (sync and async) against a local SSE upstream.

OpenAI's servers are unreachable here, so :class:`SseUpstream` is a small
aiohttp server that speaks the exact Chat Completions and Responses streaming
wire formats (DESIGN.md, "OpenAI wire formats"): a role-first delta, content
deltas, ``finish_reason``, the usage chunk with ``choices: []``, ``[DONE]``,
tool-call fragments, the ``choices: null`` quirk and error frames; and for
Responses the typed ``event:``/``data:`` pairs ending in ``response.completed``.
It records how many chunks it wrote and whether the client went away, so a
test can tell that a stop really closed the HTTP stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import openai
import pytest
from aiohttp import web
from confluent_kafka import Producer
from openai.types.chat import ChatCompletionMessageParam

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.publisher import TokenPublisher
from midstream.connectors.openai.tap import AsyncTappedStream, TappedStream, tap
from midstream.core.events import control

MODEL = "gpt-4o-mini"
WORDS = ["Hello", " there", ",", " how", " can", " I", " help", "?"]


def chat_chunk(delta: dict[str, Any] | None, finish: str | None = None, *,
               usage: dict[str, Any] | None = None, choices: Any = "one",
               include_usage: bool = False) -> dict[str, Any]:
    """One ``chat.completion.chunk`` exactly as OpenAI sends it."""
    chunk: dict[str, Any] = {
        "id": "chatcmpl-tap1", "object": "chat.completion.chunk", "created": 1764000000,
        "model": MODEL, "system_fingerprint": "fp_test", "service_tier": "default",
    }
    if choices == "one":
        chunk["choices"] = [{"index": 0, "delta": delta or {}, "logprobs": None,
                             "finish_reason": finish}]
    else:
        chunk["choices"] = choices
    if include_usage or usage is not None:
        chunk["usage"] = usage
    return chunk


class SseUpstream:
    """A local OpenAI-compatible streaming server in a background thread (127.0.0.1, port 0).

    ``scenario`` picks the stream: ``"text"`` (WORDS), ``"tools"`` (a tool call in
    fragments, plus a ``choices: null`` chunk), ``"error"`` (an error frame after
    two words), ``"slow"`` (200 words, ``delay`` apart) and ``"stall"`` (two words,
    then nothing for 30 s).
    """

    def __init__(self) -> None:
        self.scenario = "text"
        self.delay = 0.0
        self.sent = 0
        self.requests: list[dict[str, Any]] = []
        self.disconnected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def cleanup() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _send(self, response: web.StreamResponse, data: str, event: str | None = None
                    ) -> bool:
        frame = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
        try:
            await response.write(frame.encode())
        except (ConnectionError, RuntimeError):
            self.disconnected.set()
            return False
        self.sent += 1
        return True

    async def _open(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        body = self.requests[-1]
        usage_on = bool((body.get("stream_options") or {}).get("include_usage"))
        words = WORDS * 25 if self.scenario == "slow" else WORDS
        chunks: list[dict[str, Any]] = [
            chat_chunk({"role": "assistant", "content": "", "refusal": None},
                       include_usage=usage_on)]
        if self.scenario == "tools":
            chunks += [
                chat_chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                            "function": {"name": "lookup", "arguments": ""}}]}),
                chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}),
                chat_chunk(None, choices=None),
                chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": " \"x\"}"}}]}),
                chat_chunk({}, "tool_calls"),
            ]
        else:
            chunks += [chat_chunk({"content": word}, include_usage=usage_on) for word in words]
            chunks.append(chat_chunk({}, "stop", include_usage=usage_on))
        if usage_on:
            chunks.append(chat_chunk(None, choices=[], usage={
                "prompt_tokens": 9, "completion_tokens": len(words), "total_tokens": 9 + len(words),
                "prompt_tokens_details": {"cached_tokens": 0}}))
        for number, chunk in enumerate(chunks):
            if self.scenario == "error" and number == 3:
                await self._send(response, json.dumps({"error": {
                    "message": "The server had an error", "type": "server_error",
                    "param": None, "code": None}}))
                return response
            if self.scenario == "stall" and number == 3:
                for _ in range(600):  # 30 s, watching for the client going away
                    await asyncio.sleep(0.05)
                    if request.transport is None or request.transport.is_closing():
                        self.disconnected.set()
                        return response
            if self.delay:
                await asyncio.sleep(self.delay)
            if not await self._send(response, json.dumps(chunk)):
                return response
        await self._send(response, "[DONE]")
        return response

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        base = {"id": "resp_tap1", "object": "response", "created_at": 1764000000,
                "model": MODEL, "output": [], "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "usage": None, "error": None, "incomplete_details": None}
        item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress",
                "content": []}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**base, "status": "in_progress"}},
            {"type": "response.in_progress", "response": {**base, "status": "in_progress"}},
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
        ]
        events += [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                    "content_index": 0, "delta": word, "logprobs": []} for word in WORDS]
        text = "".join(WORDS)
        part = {"type": "output_text", "text": text, "annotations": []}
        events += [
            {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "text": text, "logprobs": []},
            {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "part": part},
            {"type": "response.output_item.done", "output_index": 0,
             "item": {**item, "status": "completed", "content": [part]}},
            {"type": "response.completed", "response": {
                **base, "status": "completed",
                "output": [{**item, "status": "completed", "content": [part]}],
                "usage": {"input_tokens": 9, "output_tokens": len(WORDS),
                          "total_tokens": 9 + len(WORDS),
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}},
        ]
        for number, event in enumerate(events):
            if self.delay:
                await asyncio.sleep(self.delay)
            if not await self._send(response, json.dumps({**event, "sequence_number": number}),
                                    event["type"]):
                break
        return response


class RecordingProducer:
    """Captures what a TokenPublisher hands to Kafka (integration tests use the real broker)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.messages.append((topic, key, value))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(value) for _, _, value in self.messages]


def local_follower() -> ControlFollower:
    """A ControlFollower's dispatching part, without Kafka: decisions are handed to dispatch()."""
    follower = ControlFollower.__new__(ControlFollower)
    follower._init_dispatch()
    return follower


@pytest.fixture
def upstream() -> Iterator[SseUpstream]:
    server = SseUpstream()
    try:
        yield server
    finally:
        server.close()


def make_client(upstream: SseUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0)


def make_async_client(upstream: SseUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0)


MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]


def check_text_stream(events: list[dict[str, Any]], stream_id: str, api: str) -> None:
    assert [e["kind"] for e in events] == ["start"] + ["delta"] * len(WORDS) + ["end"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert all(e["stream_id"] == stream_id and e["provider"] == "openai" for e in events)
    assert [e["text"] for e in events[1:-1]] == WORDS
    assert all(e["model"] == MODEL for e in events[1:])
    end = events[-1]["meta"]
    assert end["api"] == api


def test_sync_chat_completions_tap_yields_the_sdk_objects_and_publishes(
        upstream: SseUpstream) -> None:
    client = make_client(upstream)
    direct = [c.model_dump() for c in client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})]
    producer = RecordingProducer()
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    tapped = tap(stream, producer=cast(Producer, producer), stream_id="chat-sync", topic="tokens")
    assert isinstance(tapped, TappedStream)
    seen = list(tapped)
    assert all(type(c) is openai.types.chat.ChatCompletionChunk for c in seen)
    assert [c.model_dump() for c in seen] == direct
    events = producer.events()
    check_text_stream(events, "chat-sync", "chat.completions")
    end = events[-1]["meta"]
    assert end["finish_reason"] == "stop"
    assert end["usage"]["prompt_tokens"] == 9
    assert end["usage"]["completion_tokens"] == len(WORDS)
    assert end["response_id"] == "chatcmpl-tap1"
    assert {topic for topic, _, _ in producer.messages} == {"tokens"}
    assert {key for _, key, _ in producer.messages} == {b"chat-sync"}
    assert tapped.finish_reason == "stop" and not tapped.stopped


def test_async_chat_completions_tap(upstream: SseUpstream) -> None:
    async def run() -> tuple[list[Any], AsyncTappedStream[Any]]:
        client = make_async_client(upstream)
        stream = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        tapped = tap(stream, producer=cast(Producer, producer), stream_id="chat-async")
        assert isinstance(tapped, AsyncTappedStream)
        seen = [chunk async for chunk in tapped]
        await client.close()
        return seen, tapped

    producer = RecordingProducer()
    seen, tapped = asyncio.run(run())
    assert len(seen) == 1 + len(WORDS) + 2
    events = producer.events()
    check_text_stream(events, "chat-async", "chat.completions")
    assert events[-1]["meta"]["usage"]["completion_tokens"] == len(WORDS)
    assert tapped.finish_reason == "stop"


def test_tool_call_fragments_and_choices_null(upstream: SseUpstream) -> None:
    upstream.scenario = "tools"
    producer = RecordingProducer()
    stream = make_client(upstream).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                           stream=True)
    seen = list(tap(stream, producer=cast(Producer, producer), stream_id="chat-tools"))
    assert len(seen) == 6
    deltas = [e for e in producer.events() if e["kind"] == "delta"]
    assert "".join(e["text"] for e in deltas) == '{"q": "x"}'
    assert all(e["meta"] == {"event": "tool_call_arguments", "tool_index": 0,
                             "tool_name": "lookup"} for e in deltas)
    assert producer.events()[-1]["meta"]["finish_reason"] == "tool_calls"


def test_error_frame_ends_the_stream_as_error_and_raises(upstream: SseUpstream) -> None:
    upstream.scenario = "error"
    producer = RecordingProducer()
    stream = make_client(upstream).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                           stream=True)
    tapped = tap(stream, producer=cast(Producer, producer), stream_id="chat-error")
    seen = []
    with pytest.raises(openai.APIError, match="The server had an error"):
        for chunk in tapped:
            seen.append(chunk)
    assert len(seen) == 3
    end = producer.events()[-1]
    assert end["kind"] == "end"
    assert end["meta"]["finish_reason"] == "error"
    assert end["meta"]["error"] == "APIError"


def test_sync_stop_ends_iteration_and_closes_the_http_stream(upstream: SseUpstream) -> None:
    upstream.scenario, upstream.delay = "slow", 0.01
    follower = local_follower()
    producer = RecordingProducer()
    stream = make_client(upstream).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                           stream=True)
    tapped = tap(stream, producer=cast(Producer, producer), stream_id="chat-stop", follower=follower)
    seen = []
    for chunk in tapped:
        seen.append(chunk)
        if len(seen) == 4:
            # The decision arrives on the follower's thread, as from Kafka.
            decision = control(stream_id="chat-stop", ts=time.time(), action="stop",
                               reason="refusal", at_seq=3)
            threading.Thread(target=follower.dispatch, args=(decision,)).start()
    assert 4 <= len(seen) <= 6
    assert tapped.stopped and tapped.stop_reason == "refusal"
    assert tapped.finish_reason == "cancelled"
    assert stream.response.is_closed
    assert upstream.disconnected.wait(5), "the upstream never saw the client go away"
    assert upstream.sent < 100
    end = producer.events()[-1]
    assert end["kind"] == "end"
    assert end["meta"]["finish_reason"] == "cancelled"
    assert end["meta"]["stop_reason"] == "refusal"
    assert end["meta"]["stopped_by"] == "midstream"
    # The stream is unregistered: a second decision is late, not delivered.
    follower.dispatch(control(stream_id="chat-stop", ts=time.time(), action="stop",
                              reason="again", at_seq=9))
    assert follower.late_decisions == 1


def test_async_stop_interrupts_a_stalled_read(upstream: SseUpstream) -> None:
    upstream.scenario = "stall"
    follower = local_follower()
    producer = RecordingProducer()

    async def run() -> tuple[int, float, AsyncTappedStream[Any]]:
        client = make_async_client(upstream)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                      stream=True)
        tapped = tap(stream, producer=cast(Producer, producer), stream_id="chat-stall", follower=follower)
        decision = control(stream_id="chat-stall", ts=time.time(), action="stop",
                           reason="stall", at_seq=1)
        timer = threading.Timer(0.3, follower.dispatch, args=(decision,))
        timer.start()
        started = time.monotonic()
        count = 0
        async for _ in tapped:
            count += 1
        elapsed = time.monotonic() - started
        assert stream.response.is_closed
        await client.close()
        return count, elapsed, tapped

    count, elapsed, tapped = asyncio.run(run())
    assert count == 3  # role chunk and two words, then the stall
    assert 0.25 < elapsed < 3.0
    assert tapped.stopped and tapped.finish_reason == "cancelled"
    assert upstream.disconnected.wait(5), "the upstream never saw the client go away"
    assert producer.events()[-1]["meta"]["stop_reason"] == "stall"


def test_app_stop_and_early_close(upstream: SseUpstream) -> None:
    producer = RecordingProducer()
    client = make_client(upstream)
    tapped = tap(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True),
                 producer=cast(Producer, producer), stream_id="chat-app")
    next(tapped)
    tapped.stop("user pressed stop")
    assert list(tapped) == []
    assert producer.events()[-1]["meta"]["stopped_by"] == "app"
    producer2 = RecordingProducer()
    with tap(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True),
             producer=cast(Producer, producer2), stream_id="chat-abandon") as tapped2:
        next(tapped2)
    assert producer2.events()[-1]["meta"]["finish_reason"] == "abandoned"


def test_sync_and_async_responses_api(upstream: SseUpstream) -> None:
    producer = RecordingProducer()
    client = make_client(upstream)
    stream = client.responses.create(model=MODEL, input="Hi", stream=True)
    seen = list(tap(stream, producer=cast(Producer, producer), stream_id="resp-sync"))
    assert seen[0].type == "response.created" and seen[-1].type == "response.completed"
    events = producer.events()
    check_text_stream(events, "resp-sync", "responses")
    assert events[-1]["meta"]["finish_reason"] == "completed"
    assert events[-1]["meta"]["usage"]["output_tokens"] == len(WORDS)
    assert events[-1]["meta"]["response_id"] == "resp_tap1"

    async def run() -> None:
        aclient = make_async_client(upstream)
        astream = await aclient.responses.create(model=MODEL, input="Hi", stream=True)
        async for _ in tap(astream, producer=cast(Producer, producer2), stream_id="resp-async"):
            pass
        await aclient.close()

    producer2 = RecordingProducer()
    asyncio.run(run())
    check_text_stream(producer2.events(), "resp-async", "responses")


def test_a_given_publisher_is_used_as_is() -> None:
    producer = RecordingProducer()
    publisher = TokenPublisher(producer, "t", "given", provider="vllm",  # type: ignore[arg-type]
                               model="llama")
    nothing: list[Any] = []
    tapped = tap(iter(nothing), publisher=publisher)
    assert list(tapped) == []
    assert [(e["kind"], e["provider"], e["model"]) for e in producer.events()] == [
        ("start", "vllm", "llama"), ("end", "vllm", "llama")]


def test_async_wait_stopped_and_a_local_stop_from_another_task() -> None:
    closed = []

    class SlowStream:
        """An async stream that never yields, with the SDK's async close()."""

        def __aiter__(self) -> SlowStream:
            return self

        async def __anext__(self) -> Any:
            await asyncio.sleep(30)

        async def close(self) -> None:
            closed.append(True)

    async def run() -> tuple[str | None, list[Any]]:
        tapped = tap(SlowStream(), stream_id="slow")
        waiter = asyncio.ensure_future(tapped.wait_stopped())

        async def consume() -> list[Any]:
            return [item async for item in tapped]

        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        tapped.stop("user")
        async with asyncio.timeout(2):
            return await waiter, await consumer

    reason, items = asyncio.run(run())
    assert reason == "user" and items == [] and closed == [True]
