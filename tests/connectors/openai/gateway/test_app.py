"""The gateway proxies exactly: the real openai SDK through the gateway vs directly to the stand-in.

Tested against the local stand-in upstream (connectors/openai/standin), which
speaks OpenAI's wire formats; OpenAI's own servers are unreachable here.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import openai
import pytest

from tests.connectors.openai.gateway.servers import CLIENT_KEY, UPSTREAM_KEY, Servers
from tests.doubles.openai_upstream.http import Script, ToolCallScript

PIECES = ("The", " answer", " is", " forty", "-two", ".")
TOOL = ToolCallScript("get_weather", ('{"ci', 'ty": "Par', 'is"}'), call_id="call_1")
SCRIPTS = {
    "gpt-4o-mini": Script(pieces=PIECES),
    "tools": Script(pieces=("Let me check.",), tool_calls=(TOOL,)),
    "quirky": Script(pieces=("a", "b", "c"), choices_null_before=(1,)),
}
MESSAGES: Any = [{"role": "user", "content": "What is the answer?"}]
_VOLATILE = re.compile(rb'"(id|created|created_at|item_id)":("[^"]*"|\d+)')


@pytest.fixture(scope="module")
def servers() -> Any:
    with Servers(SCRIPTS) as s:
        yield s


def _normalised(raw: bytes) -> bytes:
    """Raw bytes with per-request ids and timestamps blanked (they differ between calls)."""
    return _VOLATILE.sub(rb'"\1":"*"', raw)


def _raw_stream(url: str, key: str, path: str, body: dict[str, Any]) -> bytes:
    """The response body's bytes, exactly as they came over the socket (chunking removed)."""
    async def fetch() -> bytes:
        async with aiohttp.ClientSession() as session, session.post(
                url + path, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 200
            return await response.read()

    return asyncio.run(fetch())


@pytest.mark.parametrize("path,body", [
    ("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}),
    ("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
                           "stream_options": {"include_usage": True}}),
    ("/chat/completions", {"model": "tools", "messages": MESSAGES, "stream": True}),
    ("/chat/completions", {"model": "quirky", "messages": MESSAGES, "stream": True}),
    ("/responses", {"model": "gpt-4o-mini", "input": "hi", "stream": True}),
])
def test_stream_bytes_are_the_upstreams(servers: Servers, path: str, body: dict[str, Any]
                                        ) -> None:
    direct = _raw_stream(servers.direct_url, UPSTREAM_KEY, path, body)
    proxied = _raw_stream(servers.url, CLIENT_KEY, path, body)
    assert _normalised(proxied) == _normalised(direct)
    assert proxied.count(b"\n\n") == direct.count(b"\n\n") > 3


def _chunks(client: openai.OpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    stream = client.chat.completions.create(messages=MESSAGES, stream=True, **kwargs)
    return [c.model_dump(exclude={"id", "created"}) for c in stream]


def test_sync_sdk_chat_stream_with_usage_matches_direct(servers: Servers) -> None:
    kwargs = {"model": "gpt-4o-mini", "stream_options": {"include_usage": True}}
    direct = _chunks(servers.client(direct=True), **kwargs)
    proxied = _chunks(servers.client(), **kwargs)
    assert proxied == direct
    assert proxied[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in proxied if c["choices"])
    assert text == "".join(PIECES)
    assert proxied[-1]["choices"] == [] and proxied[-1]["usage"]["completion_tokens"] == 6
    assert proxied[-2]["choices"][0]["finish_reason"] == "stop"


def test_tool_call_fragments_pass_through(servers: Servers) -> None:
    proxied = _chunks(servers.client(), model="tools")
    assert proxied == _chunks(servers.client(direct=True), model="tools")
    fragments = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                 for c in proxied if c["choices"][0]["delta"]["tool_calls"]]
    assert "".join(fragments) == '{"city": "Paris"}'
    assert proxied[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_choices_null_quirk_passes_through(servers: Servers) -> None:
    proxied = _chunks(servers.client(), model="quirky")
    assert any(c["choices"] is None for c in proxied)
    assert proxied == _chunks(servers.client(direct=True), model="quirky")


def test_sync_sdk_non_streaming_chat_and_stream_id_header(servers: Servers) -> None:
    raw = servers.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "".join(PIECES)
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    assert raw.headers["x-midstream-stream-id"] == completion.id


def test_stream_id_header_is_the_completion_id(servers: Servers) -> None:
    raw = servers.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = list(raw.parse())
    assert raw.headers["x-midstream-stream-id"] == chunks[0].id


def test_sync_sdk_responses_stream_and_whole(servers: Servers) -> None:
    client = servers.client()
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "".join(PIECES)
    assert client.responses.create(model="gpt-4o-mini", input="hi").output_text == deltas


def test_async_sdk_streams_and_whole_answers(servers: Servers) -> None:
    async def run() -> tuple[list[str], str, str, str]:
        client = servers.async_client()
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                      stream=True)
        pieces = [c.choices[0].delta.content or "" async for c in stream]
        whole = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        events = await client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        text = "".join([e.delta async for e in events if e.type == "response.output_text.delta"])
        response = await client.responses.create(model="gpt-4o-mini", input="hi")
        await client.close()
        return pieces, whole.choices[0].message.content or "", text, response.output_text

    pieces, whole, text, output = asyncio.run(run())
    assert "".join(pieces) == whole == text == output == "".join(PIECES)


def test_models_pass_through(servers: Servers) -> None:
    names = sorted(m.id for m in servers.client().models.list())
    assert names == sorted(SCRIPTS)


def test_upstream_gets_its_own_key_never_the_clients(servers: Servers) -> None:
    before = len(servers.upstream.received)
    servers.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    received = servers.upstream.received[before]
    assert received.authorization == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in repr(received.body)


def test_metrics_count_requests_and_first_chunk(servers: Servers) -> None:
    before = servers.metric("midstream_gateway_requests_total",
                            {"route": "chat", "status": "200"})
    _chunks(servers.client(), model="gpt-4o-mini")
    # Counted when the handler returns, which can be just after the client read [DONE].
    deadline = time.monotonic() + 5
    while (servers.metric("midstream_gateway_requests_total",
                          {"route": "chat", "status": "200"}) < before + 1
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert servers.metric("midstream_gateway_requests_total",
                          {"route": "chat", "status": "200"}) == before + 1
    labels = {"route": "chat", "gen_ai_provider_name": "openai",
              "gen_ai_request_model": "gpt-4o-mini"}
    assert servers.metric("gen_ai_client_operation_time_to_first_chunk_seconds_count",
                          labels) >= 1
    with urllib.request.urlopen(servers.url.removesuffix("/v1") + "/metrics") as response:
        scraped = response.read().decode()
    assert "midstream_gateway_stops_total" in scraped


def test_metrics_on_their_own_port() -> None:
    with Servers(SCRIPTS, metrics_port=0) as servers:
        assert servers.gateway is not None and servers.gateway.metrics_port
        _chunks(servers.client(), model="gpt-4o-mini")
        metrics_url = f"http://127.0.0.1:{servers.gateway.metrics_port}/metrics"
        with urllib.request.urlopen(metrics_url) as response:
            assert b"gen_ai_client_operation_duration_seconds" in response.read()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(servers.url.removesuffix("/v1") + "/metrics")
        assert caught.value.code == 404
