"""The Realtime relay against the stand-in upstream, with real WebSockets on 127.0.0.1.

The client here is aiohttp's WebSocket client, which can compare raw frames byte
for byte; ``test_realtime_sdk.py`` drives the same relay with the openai SDK's
own Realtime client. The stand-in
(:mod:`tests.doubles.openai_upstream.realtime`) sends OpenAI's GA and beta event
sequences, because OpenAI's servers cannot be reached from here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.realtime import (
    RealtimeRelay,
    RelayConfig,
    RelayConfigError,
    RelayMetrics,
)
from midstream.core.events import control
from tests.connectors.openai.test_tap import RecordingProducer, local_follower
from tests.doubles.openai_upstream.realtime import RealtimeScript, StandinRealtime

CLIENT_KEY = "mk-client-1"
UPSTREAM_KEY = "sk-upstream-very-secret"
PIECES = RealtimeScript().pieces
BETA = {"OpenAI-Beta": "realtime=v1"}


class Rig:
    """A stand-in upstream, the relay in front of it, a recording producer and metrics."""

    def __init__(self, script: RealtimeScript | None = None,
                 follower: ControlFollower | None = None) -> None:
        self.upstream = StandinRealtime(script, api_key=UPSTREAM_KEY)
        self.producer = RecordingProducer()
        self.registry = CollectorRegistry()
        self.metrics = RelayMetrics(self.registry)
        self.follower = follower
        self.relay: RealtimeRelay | None = None
        self.url = ""
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rig:
        upstream_url = await self.upstream.start()
        config = RelayConfig(upstream=upstream_url, port=0, client_keys=frozenset({CLIENT_KEY}),
                             upstream_key=UPSTREAM_KEY, tokens_topic="tokens")
        self.relay = RealtimeRelay(config, producer=self.producer,  # type: ignore[arg-type]
                                   follower=self.follower, metrics=self.metrics,
                                   registry=self.registry)
        self.url = await self.relay.start() + "/v1/realtime?model=gpt-realtime"
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.relay is not None and self.http is not None
        await self.http.close()
        await self.relay.close()
        await self.upstream.close()

    async def connect(self, headers: dict[str, str] | None = None,
                      key: str = CLIENT_KEY) -> aiohttp.ClientWebSocketResponse:
        assert self.http is not None
        return await self.http.ws_connect(
            self.url, headers={"Authorization": f"Bearer {key}", **(headers or {})},
            max_msg_size=16 << 20)

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def receive_until(ws: aiohttp.ClientWebSocketResponse, kind: str,
                        frames: list[str], timeout: float = 10.0,
                        on_event: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None
                        ) -> dict[str, Any]:
    """Collect raw text frames until an event of type ``kind``; returns that event."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            frames.append(message.data)
            event = json.loads(message.data)
            if on_event is not None:
                result = on_event(event)
                if result is not None:
                    await result
            if event["type"] == kind:
                return event


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine
    return asyncio.run(main())


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_audio_response_relayed_unchanged_and_tapped(beta: bool) -> None:
    async def scenario() -> Rig:
        async with Rig() as rig:
            ws = await rig.connect(BETA if beta else None)
            frames: list[str] = []
            await receive_until(ws, "session.created", frames)
            sent = [{"type": "session.update", "session": {"instructions": "Be brief."}},
                    {"type": "input_audio_buffer.append", "audio": "AAAAAA=="},
                    {"type": "input_audio_buffer.commit"},
                    {"type": "response.create", "response": {"modalities": ["audio", "text"]}
                     if beta else {"output_modalities": ["audio"]}}]
            for event in sent:
                await ws.send_str(json.dumps(event))
            await receive_until(ws, "response.done", frames)
            await ws.close()
            conn = rig.upstream.connections[0]
            assert conn.beta is beta
            # Both ways unchanged: every frame the upstream sent, byte for byte, in order...
            assert frames == conn.frames
            # ...and every client event, as sent.
            assert conn.received == sent
            assert conn.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
            assert conn.query == {"model": "gpt-realtime"}
            if beta:
                assert conn.headers["OpenAI-Beta"] == "realtime=v1"
            names = {json.loads(f)["type"] for f in frames}
            delta_name = "response.audio.delta" if beta else "response.output_audio.delta"
            assert delta_name in names
            assert "conversation.item.input_audio_transcription.completed" in names
            assert "input_audio_buffer.speech_started" in names
            return rig

    rig = run(scenario())
    events = rig.producer.events()
    assert [e["kind"] for e in events] == ["start"] + ["delta"] * len(PIECES) + ["end"]
    assert len({e["stream_id"] for e in events}) == 1
    assert events[0]["stream_id"].startswith("realtime-")
    assert events[0]["meta"]["response_id"].startswith("resp_")
    assert events[0]["meta"]["session_id"] == "sess_standin"
    deltas = events[1:-1]
    assert [e["text"] for e in deltas] == list(PIECES)
    for delta in deltas:
        assert delta["meta"]["event"] == "output_audio_transcript"
        audio = delta["meta"]["audio"]  # the 100 ms tone chunk relayed just before
        assert (audio["chunks"], audio["bytes"], audio["seconds"]) == (1, 4800, 0.1)
        assert audio["rms_dbfs"] == pytest.approx(-9.03, abs=0.02)  # a 0.5 full-scale sine
    end = events[-1]
    assert end["meta"]["finish_reason"] == "completed"
    assert end["meta"]["usage"]["output_tokens"] == 3 * len(PIECES)
    assert end["meta"]["audio"]["seconds"] == pytest.approx(0.1 * len(PIECES))
    assert all(e["model"] == "gpt-realtime" for e in events)
    assert rig.sample("midstream_realtime_audio_seconds_total", direction="output") == \
        pytest.approx(0.1 * len(PIECES))
    # One transcript delta per piece, then response.(output_)audio_transcript.done.
    assert rig.sample("midstream_realtime_events_total", direction="upstream",
                      family="audio_transcript") == len(PIECES) + 1
    assert rig.sample("midstream_realtime_events_total", direction="client",
                      family="input_audio_buffer") == 2
    assert rig.sample("midstream_realtime_audio_seconds_total", direction="input") == \
        pytest.approx(4 / 48000)
    assert rig.sample("midstream_realtime_sessions_total") == 1


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_text_response_tapped_with_either_names(beta: bool) -> None:
    async def scenario() -> Rig:
        async with Rig() as rig:
            ws = await rig.connect(BETA if beta else None)
            frames: list[str] = []
            await receive_until(ws, "session.created", frames)
            response = {"modalities": ["text"]} if beta else {"output_modalities": ["text"]}
            await ws.send_str(json.dumps({"type": "response.create", "response": response}))
            await receive_until(ws, "response.done", frames)
            assert frames == rig.upstream.connections[0].frames
            text_delta = "response.text.delta" if beta else "response.output_text.delta"
            assert sum(json.loads(f)["type"] == text_delta for f in frames) == len(PIECES)
            await ws.close()
            return rig

    events = run(scenario()).producer.events()
    deltas = [e for e in events if e["kind"] == "delta"]
    assert "".join(e["text"] for e in deltas) == "".join(PIECES)
    assert all(e["meta"] == {"event": "output_text", "item_id": deltas[0]["meta"]["item_id"]}
               for e in deltas)
    assert "audio" not in events[-1]["meta"]


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_stop_cancels_and_truncates_playing_audio(beta: bool) -> None:
    follower = local_follower()
    script = RealtimeScript(pieces=tuple(f" w{i}" for i in range(60)), pace=0.02)

    async def scenario() -> tuple[Rig, list[str]]:
        async with Rig(script, follower) as rig:
            ws = await rig.connect(BETA if beta else None)
            frames: list[str] = []
            await receive_until(ws, "session.created", frames)
            await ws.send_str(json.dumps({"type": "response.create"}))
            audio_deltas = 0
            stop_sent = threading.Event()

            def on_event(event: dict[str, Any]) -> None:
                nonlocal audio_deltas
                if event["type"] in ("response.output_audio.delta", "response.audio.delta"):
                    audio_deltas += 1
                    if audio_deltas == 5 and not stop_sent.is_set():
                        stop_sent.set()
                        stream_id = rig.producer.events()[0]["stream_id"]
                        record = control(stream_id=stream_id, ts=time.time(), action="stop",
                                         reason="policy", at_seq=4)
                        # From another thread, as the Kafka follower does.
                        threading.Thread(target=follower.dispatch, args=(record,)).start()

            done = await receive_until(ws, "response.done", frames, on_event=on_event)
            assert done["response"]["status"] == "cancelled"
            truncated = await receive_until(ws, "conversation.item.truncated", frames)
            await ws.close()
            received = rig.upstream.connections[0].received
            cancel = [e for e in received if e["type"] == "response.cancel"]
            truncate = [e for e in received if e["type"] == "conversation.item.truncate"]
            assert len(cancel) == 1 and len(truncate) == 1
            assert cancel[0]["response_id"] == done["response"]["id"]
            item_id = done["response"]["output"][0]["id"]
            assert truncate[0]["item_id"] == item_id and truncate[0]["content_index"] == 0
            # Played so far: at least the first chunk's worth of time, at most what was relayed.
            relayed_ms = 100 * audio_deltas
            assert 0 < truncate[0]["audio_end_ms"] <= relayed_ms
            assert truncated["audio_end_ms"] == truncate[0]["audio_end_ms"]
            assert audio_deltas < len(script.pieces)
            return rig, frames

    rig, frames = run(scenario())
    sent = rig.upstream.connections[0].frames
    # Everything the client got came from the upstream unchanged; only deltas may be missing.
    assert set(frames) <= set(sent)
    missing = [json.loads(f)["type"] for f in sent if f not in set(frames)]
    assert all(kind.endswith(".delta") for kind in missing)
    assert rig.sample("midstream_realtime_suppressed_deltas_total") == len(missing)
    events = rig.producer.events()
    end = events[-1]
    assert end["kind"] == "end" and end["meta"]["finish_reason"] == "cancelled"
    assert end["meta"]["stop_reason"] == "policy" and end["meta"]["stopped_by"] == "midstream"
    assert rig.sample("midstream_realtime_stops_total", outcome="cancel_sent") == 1
    assert rig.sample("midstream_realtime_truncations_total") == 1
    # A decision after the response ended is late, and nothing more goes upstream.
    follower.dispatch(control(stream_id=events[0]["stream_id"], ts=time.time(), action="stop",
                              reason="again", at_seq=99))
    assert follower.late_decisions == 1


def test_stop_of_a_text_response_cancels_without_truncating() -> None:
    follower = local_follower()
    script = RealtimeScript(pieces=tuple(f" w{i}" for i in range(60)), pace=0.02)

    async def scenario() -> Rig:
        async with Rig(script, follower) as rig:
            ws = await rig.connect()
            frames: list[str] = []
            await receive_until(ws, "session.created", frames)
            await ws.send_str(json.dumps({"type": "response.create",
                                          "response": {"output_modalities": ["text"]}}))
            await receive_until(ws, "response.output_text.delta", frames)
            assert rig.relay is not None
            stream_id = rig.producer.events()[0]["stream_id"]
            await asyncio.to_thread(follower.dispatch,
                                    control(stream_id=stream_id, ts=time.time(), action="stop",
                                            reason="x", at_seq=1))
            done = await receive_until(ws, "response.done", frames)
            assert done["response"]["status"] == "cancelled"
            await ws.close()
            kinds = [e["type"] for e in rig.upstream.connections[0].received]
            assert kinds == ["response.create", "response.cancel"]
            return rig

    rig = run(scenario())
    assert rig.sample("midstream_realtime_truncations_total") == 0
    assert rig.producer.events()[-1]["meta"]["finish_reason"] == "cancelled"


def test_wrong_or_missing_client_key_is_refused_and_secrets_stay_out_of_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> Rig:
        async with Rig() as rig:
            for key in ("wrong-key", ""):
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await rig.connect(key=key)
                assert info.value.status == 401
            assert rig.http is not None
            async with rig.http.get(rig.url, headers={"Authorization": "Bearer nope"}) as resp:
                body = await resp.json()
            assert resp.status == 401 and body["error"]["code"] == "invalid_api_key"
            assert rig.upstream.connections == []
            # The browser form: the key in a subprotocol, which is not forwarded upstream.
            ws = await rig.http.ws_connect(
                rig.url, protocols=("realtime", f"openai-insecure-api-key.{CLIENT_KEY}"))
            await receive_until(ws, "session.created", [])
            await ws.close()
            headers = rig.upstream.connections[0].headers
            assert CLIENT_KEY not in json.dumps(headers)
            assert repr(rig.relay).count(UPSTREAM_KEY) == 0
            return rig

    rig = run(scenario())
    assert rig.sample("midstream_realtime_refused_connections_total", reason="unauthorized") == 3
    assert UPSTREAM_KEY not in caplog.text and CLIENT_KEY not in caplog.text


def test_unreachable_upstream_gives_502_and_a_refusing_one_its_status(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        # Upstream refuses: wrong upstream key.
        upstream = StandinRealtime(api_key="sk-other")
        url = await upstream.start()
        relay = RealtimeRelay(RelayConfig(upstream=url, port=0, client_keys=frozenset({"k"}),
                                          upstream_key=UPSTREAM_KEY),
                              metrics=RelayMetrics(CollectorRegistry()))
        base = await relay.start()
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": "Bearer k"}
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(base + "/v1/realtime", headers=headers)
            assert info.value.status == 401
            await relay.close()
            await upstream.close()
            # Nothing listens on the upstream port any more.
            relay = RealtimeRelay(RelayConfig(upstream=url, port=0, client_keys=frozenset({"k"}),
                                              upstream_key=UPSTREAM_KEY),
                                  metrics=RelayMetrics(CollectorRegistry()))
            base = await relay.start()
            async with http.get(base + "/v1/realtime", headers={
                    **headers, "Upgrade": "websocket", "Connection": "Upgrade",
                    "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                body = await resp.json()
            assert resp.status == 502 and body["error"]["code"] == "upstream_unreachable"
            await relay.close()

    caplog.set_level(logging.DEBUG)
    run(scenario())
    assert UPSTREAM_KEY not in caplog.text


def test_upstream_closing_closes_the_client_and_vice_versa() -> None:
    async def scenario() -> None:
        async with Rig() as rig:
            ws = await rig.connect()
            await receive_until(ws, "session.created", [])
            await rig.upstream.close()  # the upstream goes away
            async with asyncio.timeout(5):
                message = await ws.receive()
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with Rig() as rig:
            ws = await rig.connect()
            await receive_until(ws, "session.created", [])
            await ws.close()
            async with asyncio.timeout(5):
                while rig.upstream._sockets:
                    await asyncio.sleep(0.01)
            assert rig.sample("midstream_realtime_sessions_open") == 0

    run(scenario())


def test_config_refuses_insecure_upstreams_and_missing_keys() -> None:
    with pytest.raises(RelayConfigError, match="not loopback"):
        RelayConfig(upstream="ws://example.com/v1/realtime", client_keys=frozenset({"k"}))
    assert RelayConfig(upstream="ws://example.com/v1/realtime", client_keys=frozenset({"k"}),
                       allow_insecure_upstream=True).upstream.startswith("ws://")
    assert RelayConfig(upstream="https://api.openai.com/v1/realtime",
                       client_keys=frozenset({"k"})).upstream.startswith("wss://")
    with pytest.raises(RelayConfigError, match="MIDSTREAM_GATEWAY_KEYS"):
        RelayConfig(upstream="wss://api.openai.com/v1/realtime")
    with pytest.raises(RelayConfigError, match="credentials"):
        RelayConfig(upstream="wss://u:p@api.openai.com/v1/realtime", client_keys=frozenset("k"))


def test_entry_point_help_and_config_errors() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "midstream.cli.main", "realtime", "--help"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for option in ("--listen", "--upstream", "--brokers", "--allow-insecure-upstream",
                   "--upstream-key-file", "MIDSTREAM_GATEWAY_KEYS", "MIDSTREAM_UPSTREAM_API_KEY"):
        assert option in out
    refused = subprocess.run(
        [sys.executable, "-m", "midstream.cli.main", "realtime", "--upstream",
         "wss://api.openai.com/v1/realtime"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "MIDSTREAM_UPSTREAM_API_KEY": UPSTREAM_KEY})
    assert refused.returncode == 2
    assert "MIDSTREAM_GATEWAY_KEYS" in refused.stderr and UPSTREAM_KEY not in refused.stderr


def test_metrics_endpoint_serves_the_relay_metrics() -> None:
    async def scenario() -> str:
        async with Rig() as rig:
            ws = await rig.connect()
            await receive_until(ws, "session.created", [])
            await ws.close()
            assert rig.http is not None and rig.relay is not None
            async with rig.http.get(f"http://127.0.0.1:{rig.relay.port}/metrics") as resp:
                assert resp.status == 200
                return await resp.text()

    text = run(scenario())
    assert 'midstream_realtime_events_total{direction="upstream",family="session"} 1.0' in text
    assert "midstream_realtime_sessions_total 1.0" in text


def test_entry_point_relays_as_a_process_and_stops_on_sigterm() -> None:
    import os
    import re
    import signal
    import subprocess
    import sys

    async def scenario() -> str:
        upstream = StandinRealtime(api_key=UPSTREAM_KEY)
        upstream_url = await upstream.start()
        env = {**os.environ, "MIDSTREAM_GATEWAY_KEYS": f"other,{CLIENT_KEY}",
               "MIDSTREAM_UPSTREAM_API_KEY": UPSTREAM_KEY}
        process = subprocess.Popen(
            [sys.executable, "-m", "midstream.cli.main", "realtime", "--listen", "127.0.0.1:0",
             "--upstream", upstream_url], env=env, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stderr.readline), 30)
            found = re.search(r"(ws://127\.0\.0\.1:\d+)/v1/realtime", line)
            assert found, line
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    found.group(1) + "/v1/realtime?model=gpt-realtime",
                    headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as ws:
                event = await receive_until(ws, "session.created", [])
                assert event["session"]["model"] == "gpt-realtime"
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 20)
            assert process.returncode == 0
            return line + process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            await upstream.close()

    logs = run(scenario())
    assert UPSTREAM_KEY not in logs and CLIENT_KEY not in logs


def test_tls_verification_stays_on_for_a_wss_upstream(tmp_path: Any) -> None:
    """A self-signed upstream certificate is refused (502), not silently accepted."""
    import shutil
    import ssl
    import subprocess

    from aiohttp import web

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def scenario() -> None:
        upstream = StandinRealtime()
        app = web.Application()
        app.router.add_get("/v1/realtime", upstream._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        port = runner.addresses[0][1]
        relay = RealtimeRelay(RelayConfig(upstream=f"wss://127.0.0.1:{port}/v1/realtime",
                                          port=0, client_keys=frozenset({"k"})),
                              metrics=RelayMetrics(CollectorRegistry()))
        base = await relay.start()
        try:
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(base + "/v1/realtime",
                                          headers={"Authorization": "Bearer k"})
                assert info.value.status == 502
            assert upstream.connections == []
        finally:
            await relay.close()
            await runner.cleanup()

    run(scenario())


def test_per_key_session_and_connection_rate_limits() -> None:
    async def scenario() -> None:
        upstream = StandinRealtime()
        url = await upstream.start()
        registry = CollectorRegistry()
        relay = RealtimeRelay(RelayConfig(upstream=url, port=0, client_keys=frozenset({"a", "b"}),
                                          max_sessions_per_key=1, connections_per_second=0.01,
                                          connection_burst=2),
                              metrics=RelayMetrics(registry), registry=registry)
        base = await relay.start() + "/v1/realtime"
        try:
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(base, headers={"Authorization": "Bearer a"})
                await receive_until(first, "session.created", [])
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(base, headers={"Authorization": "Bearer a"})
                assert info.value.status == 429  # one open session per key
                other = await http.ws_connect(base, headers={"Authorization": "Bearer b"})
                await receive_until(other, "session.created", [])  # other keys unaffected
                await first.close()
                for _ in range(100):  # the relay notices the close
                    if registry.get_sample_value("midstream_realtime_sessions_open") == 1:
                        break
                    await asyncio.sleep(0.01)
                second = await http.ws_connect(base, headers={"Authorization": "Bearer a"})
                await second.close()
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(base, headers={"Authorization": "Bearer a"})
                assert info.value.status == 429  # burst of 2 connections used up
                assert info.value.headers is not None
                assert int(info.value.headers["Retry-After"]) >= 1
                await other.close()
        finally:
            await relay.close()
            await upstream.close()
        for reason in ("too_many_sessions", "rate_limited"):
            assert registry.get_sample_value("midstream_realtime_refused_connections_total",
                                             {"reason": reason}) == 1

    run(scenario())
