"""``midstream gateway``: flags, environment and config file, and the real command as a process.

The process test runs the gateway as users do, in front of the local stand-in
upstream (OpenAI's servers are unreachable here), with the real openai SDK.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import openai
import pytest

from midstream.cli.gateway import config_from_args, main, parser
from tests.connectors.openai.gateway.servers import CLIENT_KEY, UPSTREAM_KEY
from tests.doubles.openai_upstream.http import Script, StandinUpstream

REPO = Path(__file__).resolve().parents[2]


def test_flags_file_and_environment_combine(tmp_path: Path) -> None:
    secret = tmp_path / "upstream.key"
    secret.write_text(UPSTREAM_KEY + "\n")
    config_file = tmp_path / "gateway.toml"
    config_file.write_text('[gateway]\nclient_keys = ["from-file"]\nrate_per_second = 3\n'
                           'decision_timeout = 0.2\n')
    args = parser().parse_args([
        "--listen", "0.0.0.0:9001", "--upstream", "https://example.com/v1", "--config",
        str(config_file), "--decision-timeout", "0.75", "--fail-closed"])
    config = config_from_args(args, env={"MIDSTREAM_GATEWAY_KEYS": "a,b",
                                         "MIDSTREAM_UPSTREAM_API_KEY_FILE": str(secret)})
    assert (config.host, config.port) == ("0.0.0.0", 9001)
    assert config.client_keys == {"a", "b", "from-file"}
    assert config.upstream_key == UPSTREAM_KEY
    assert config.rate_per_second == 3 and config.decision_timeout == 0.75
    assert config.fail_closed and config.brokers is None
    assert UPSTREAM_KEY not in repr(config) and "from-file" not in repr(config)


def test_unknown_setting_in_the_file_is_named(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text("[gateway]\nrate = 3\n")
    assert main(["--upstream", "https://example.com/v1", "--config", str(config_file)]) == 2
    assert "unknown settings" in capsys.readouterr().err


def test_refusals_exit_with_status_2(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MIDSTREAM_GATEWAY_KEYS", raising=False)
    assert main(["--upstream", "https://example.com/v1", "--listen", "127.0.0.1:0"]) == 2
    assert "not an open proxy" in capsys.readouterr().err
    monkeypatch.setenv("MIDSTREAM_GATEWAY_KEYS", "k")
    assert main(["--upstream", "http://192.0.2.10/v1", "--listen", "127.0.0.1:0"]) == 2
    assert "plain-http" in capsys.readouterr().err


def test_help_documents_keys_failure_modes_and_security() -> None:
    text = parser().format_help()
    for needle in ("MIDSTREAM_GATEWAY_KEYS", "MIDSTREAM_UPSTREAM_API_KEY_FILE", "--fail-closed",
                   "content_filter", "[redacted:<reason>]", "--allow-insecure-upstream",
                   "base_url"):
        assert needle in text


def test_the_command_serves_the_sdk_and_stops_on_sigterm() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    upstream = StandinUpstream({"gpt-4o-mini": Script(pieces=("Hi", " there"))},
                               api_key=UPSTREAM_KEY)
    base = asyncio.run_coroutine_threadsafe(upstream.start(), loop).result(10)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MIDSTREAM_")},
           "MIDSTREAM_GATEWAY_KEYS": CLIENT_KEY, "MIDSTREAM_UPSTREAM_API_KEY": UPSTREAM_KEY,
           "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "midstream.cli.main", "gateway", "--listen", "127.0.0.1:0",
         "--upstream", base, "-v"], env=env, cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("midstream gateway on http://127.0.0.1:"), line
        client = openai.OpenAI(base_url=line.split()[-1], api_key=CLIENT_KEY, max_retries=0)
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True))
        assert text == "Hi there"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=line.split()[-1], api_key=UPSTREAM_KEY,
                          max_retries=0).models.list()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        asyncio.run_coroutine_threadsafe(upstream.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert "gateway listening" in stderr
    assert UPSTREAM_KEY not in stderr and CLIENT_KEY not in stderr


