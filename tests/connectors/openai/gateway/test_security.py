"""Bad input and security: OpenAI-style errors, keys, limits, TLS rules and secrets that never leak.

Tested with the real openai SDK against the gateway in front of the local
stand-in upstream (OpenAI's servers are unreachable here).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from prometheus_client import CollectorRegistry

from midstream.connectors.openai.gateway.app import Gateway
from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.connectors.openai.gateway.exceptions import GatewayConfigError, InsecureUpstreamError
from tests.connectors.openai.gateway.servers import CLIENT_KEY, UPSTREAM_KEY, Servers
from tests.doubles.openai_upstream.http import Script

SCRIPTS = {
    "gpt-4o-mini": Script(pieces=("one", " two", " three")),
    "dies": Script(pieces=("one", " two", " three", " four"), die_after=2),
    "errors": Script(pieces=("one", " two", " three"), error_after=1),
}
MESSAGES: Any = [{"role": "user", "content": "hi"}]
SECRETS = (UPSTREAM_KEY, CLIENT_KEY)


@pytest.fixture(scope="module")
def servers() -> Any:
    with Servers(SCRIPTS, max_body_bytes=4096, rate_per_second=1000.0, burst=1000) as s:
        yield s


def _post(servers: Servers, body: bytes, key: str = CLIENT_KEY,
          path: str = "/chat/completions") -> tuple[int, dict[str, Any], bytes, dict[str, str]]:
    async def send() -> tuple[int, dict[str, Any], bytes, dict[str, str]]:
        async with aiohttp.ClientSession() as session, session.post(
                servers.url + path, data=body, headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        ) as response:
            raw = await response.read()
            return response.status, await response.json(), raw, dict(response.headers)

    return asyncio.run(send())


def _assert_openai_error(value: dict[str, Any]) -> None:
    assert set(value) == {"error"}
    assert set(value["error"]) == {"message", "type", "param", "code"}
    assert value["error"]["message"]


def _assert_no_secret(*texts: str | bytes) -> None:
    for text in texts:
        blob = text.decode(errors="replace") if isinstance(text, bytes) else text
        for secret in SECRETS:
            assert secret not in blob


def test_invalid_json_is_a_400(servers: Servers) -> None:
    status, value, raw, headers = _post(servers, b'{"model": "gpt-4o-mini", "messages": [')
    assert status == 400
    _assert_openai_error(value)
    assert value["error"]["code"] == "invalid_json"
    _assert_no_secret(raw, repr(headers))
    status, value, _, _ = _post(servers, b"[1, 2]")
    assert status == 400 and value["error"]["type"] == "invalid_request_error"


def test_unknown_model_passes_the_upstreams_404(servers: Servers) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        servers.client().chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert "gpt-9" in caught.value.message
    _assert_no_secret(caught.value.response.text)


def test_oversize_body_is_a_413(servers: Servers) -> None:
    body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"x" * 5000 + b'"}]}'
    status, value, _, _ = _post(servers, body)
    assert status == 413
    _assert_openai_error(value)
    assert value["error"]["code"] == "request_too_large"
    with pytest.raises(openai.APIStatusError) as caught:
        servers.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "y" * 5000}])
    assert caught.value.status_code == 413


@pytest.mark.parametrize("key", ["wrong-key", UPSTREAM_KEY, ""])
def test_wrong_key_is_a_401_and_the_upstream_is_not_called(servers: Servers, key: str) -> None:
    before = len(servers.upstream.received)
    client = openai.OpenAI(base_url=servers.url, api_key=key or "x", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "invalid_api_key"
    assert len(servers.upstream.received) == before
    _assert_no_secret(caught.value.response.text)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_rate_limit_is_a_429_per_key() -> None:
    with Servers(SCRIPTS, rate_per_second=0.5, burst=2) as servers:
        client = servers.client()
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert caught.value.code == "rate_limit_exceeded"
        assert int(caught.value.response.headers["Retry-After"]) >= 1


def test_upstream_dying_mid_stream_gives_an_error_frame_and_a_clean_end(servers: Servers
                                                                       ) -> None:
    stream = servers.client().chat.completions.create(model="dies", messages=MESSAGES,
                                                      stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "one two"
    assert "upstream connection was lost" in caught.value.message
    # On the wire: the delivered chunks, one error frame, [DONE], and a proper end of body.
    status, raw = _raw(servers, {"model": "dies", "messages": MESSAGES, "stream": True})
    assert status == 200
    assert raw.endswith(b'data: [DONE]\n\n')
    assert raw.count(b'"error"') == 1 and b"upstream_disconnected" in raw
    _assert_no_secret(raw)


def _raw(servers: Servers, body: dict[str, Any]) -> tuple[int, bytes]:
    async def fetch() -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as session, session.post(
                servers.url + "/chat/completions", json=body,
                headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as response:
            return response.status, await response.read()  # raises on a broken body

    return asyncio.run(fetch())


def test_upstream_error_frame_passes_through(servers: Servers) -> None:
    stream = servers.client().chat.completions.create(model="errors", messages=MESSAGES,
                                                      stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "server had an error" in caught.value.message


def test_unreachable_upstream_is_a_502() -> None:
    with Servers(SCRIPTS) as servers:
        servers.run(servers.upstream.close())
        with pytest.raises(openai.APIStatusError) as caught:
            servers.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert caught.value.status_code == 502
        assert caught.value.code == "upstream_unreachable"
        assert "127.0.0.1" not in caught.value.message


def test_secrets_never_in_logs_or_error_bodies(servers: Servers,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = servers.client()
    bodies: list[str] = []
    for model in ("gpt-9", "dies", "errors", "gpt-4o-mini"):
        try:
            for _ in client.chat.completions.create(model=model, messages=MESSAGES,
                                                    stream=True):
                pass
        except openai.APIError as exc:
            bodies.append(str(exc.body) + exc.message)
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=servers.url, api_key="bad", max_retries=0).models.list()
    bodies.append(caught.value.response.text)
    assert len(bodies) >= 3
    _assert_no_secret(caplog.text, *bodies, repr(servers.gateway), repr(servers.config))
    assert servers.upstream.received[-1].authorization == f"Bearer {UPSTREAM_KEY}"


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000/v1", "http://api.example.com/v1"])
def test_plain_http_upstream_off_loopback_is_refused(url: str) -> None:
    config = GatewayConfig(upstream=url, client_keys=frozenset({"k"}))
    with pytest.raises(InsecureUpstreamError):
        Gateway(config, registry=CollectorRegistry())
    allowed = GatewayConfig(upstream=url, client_keys=frozenset({"k"}),
                            allow_insecure_upstream=True)
    assert Gateway(allowed, registry=CollectorRegistry()).config.upstream == url
    Gateway(GatewayConfig(upstream=url.replace("http:", "https:"), client_keys=frozenset({"k"})),
            registry=CollectorRegistry())


def test_no_client_keys_is_refused() -> None:
    with pytest.raises(GatewayConfigError, match="not an open proxy"):
        Gateway(GatewayConfig(upstream="http://127.0.0.1:1/v1"), registry=CollectorRegistry())


def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    """An https upstream with a self-signed certificate is refused (502), never trusted."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with Servers(SCRIPTS) as servers:
        servers.run(servers.upstream.close())
        https = servers.run(servers.upstream.start(ssl_context=context))
        assert https.startswith("https://")
        gateway = Gateway(servers.replace(upstream=https, port=0), registry=CollectorRegistry())
        servers.run(gateway.start())
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1",
                                   api_key=CLIENT_KEY, max_retries=0)
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert caught.value.status_code == 502
            assert caught.value.code == "upstream_unreachable"
        finally:
            servers.run(gateway.close())
        assert not servers.upstream.received  # the TLS handshake failed: no request got in
