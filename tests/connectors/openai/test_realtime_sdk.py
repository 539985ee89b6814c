"""The real openai SDK's Realtime client (GA and beta, async and sync) through the relay.

The upstream is the stand-in (:mod:`tests.doubles.openai_upstream.realtime`), because
OpenAI's servers cannot be reached from here; the client is the SDK itself,
pointed at the relay with ``websocket_base_url``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai
import pytest

from tests.connectors.openai.test_realtime import CLIENT_KEY, Rig
from tests.doubles.openai_upstream.realtime import RealtimeScript

PIECES = RealtimeScript().pieces


def ws_base(rig: Rig) -> str:
    return rig.url.split("/v1/realtime")[0] + "/v1"


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_async_sdk_realtime_client_through_the_relay(beta: bool) -> None:
    async def scenario() -> tuple[list[str], list[str], Rig]:
        async with Rig() as rig:
            client = openai.AsyncOpenAI(api_key=CLIENT_KEY, websocket_base_url=ws_base(rig))
            realtime: Any = client.beta.realtime if beta else client.realtime
            kinds: list[str] = []
            text: list[str] = []
            async with realtime.connect(model="gpt-realtime") as connection:
                await connection.response.create()
                async with asyncio.timeout(10):
                    async for event in connection:
                        kinds.append(event.type)
                        if event.type.endswith("audio_transcript.delta"):
                            text.append(event.delta)
                        if event.type == "response.done":
                            break
            return kinds, text, rig

    kinds, text, rig = asyncio.run(scenario())
    assert kinds[0] == "session.created" and kinds[-1] == "response.done"
    transcript = ("response.audio_transcript.delta" if beta
                  else "response.output_audio_transcript.delta")
    assert transcript in kinds
    assert "".join(text) == "".join(PIECES)
    conn = rig.upstream.connections[0]
    assert conn.beta is beta
    assert conn.received[0]["type"] == "response.create"
    # The tap saw the same response as the SDK did.
    events = rig.producer.events()
    assert "".join(e["text"] for e in events if e["kind"] == "delta") == "".join(PIECES)


def test_sync_sdk_realtime_client_through_the_relay() -> None:
    loop = asyncio.new_event_loop()
    rig = Rig()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(rig.__aenter__())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        client = openai.OpenAI(api_key=CLIENT_KEY, websocket_base_url=ws_base(rig))
        kinds: list[str] = []
        with client.realtime.connect(model="gpt-realtime") as connection:
            connection.response.create()
            for event in connection:
                kinds.append(event.type)
                if event.type == "response.done":
                    break
        assert kinds[0] == "session.created" and kinds[-1] == "response.done"
        assert kinds.count("response.output_audio_transcript.delta") == len(PIECES)
    finally:
        asyncio.run_coroutine_threadsafe(rig.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_the_sdk_with_a_wrong_key_is_refused() -> None:
    async def scenario() -> None:
        async with Rig() as rig:
            client = openai.AsyncOpenAI(api_key="not-a-key", websocket_base_url=ws_base(rig),
                                        max_retries=0)
            with pytest.raises(Exception) as caught:  # the SDK wraps the 401 its own way
                async with client.realtime.connect(model="gpt-realtime", max_retries=0) as c:
                    await c.recv()
            assert "401" in repr(caught.value) or "401" in str(caught.value)
            assert rig.upstream.connections == []

    asyncio.run(scenario())
