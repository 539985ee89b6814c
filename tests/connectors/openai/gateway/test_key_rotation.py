"""Client keys rotate without a restart: the real gateway process, SIGHUP and file changes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.connectors.openai.gateway.servers import Servers
from tests.doubles.openai_upstream.http import Script

REPO = Path(__file__).resolve().parents[4]
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def _accepted(url: str, key: str) -> bool:
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    except openai.AuthenticationError:
        return False
    return True


def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


@pytest.fixture
def upstream() -> Any:
    with Servers({"gpt-4o-mini": Script()}) as servers:
        yield servers


def test_sighup_and_file_changes_rotate_keys_in_the_gateway_process(upstream: Servers,
                                                                    tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# team a\nold-key\n")
    env = {**os.environ, "MIDSTREAM_GATEWAY_KEYS_FILE": str(keys),
           "MIDSTREAM_UPSTREAM_API_KEY": "sk-upstream-SECRET-5b9e1c", "PYTHONPATH": str(REPO)}
    env.pop("MIDSTREAM_GATEWAY_KEYS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "midstream.cli.main", "gateway", "--listen", "127.0.0.1:0",
         "--upstream", upstream.direct_url], env=env, cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert _accepted(url, "old-key") and not _accepted(url, "new-key")
        # A changed file is picked up by itself (polled every second)...
        keys.write_text("new-key\n")
        _until(lambda: _accepted(url, "new-key"))
        assert not _accepted(url, "old-key")
        # ... and SIGHUP re-reads it at once; hashed entries are keys too.
        hashed = "sha256:" + hashlib.sha256(b"hashed-key").hexdigest()
        keys.write_text(f"{hashed}\n")
        os.utime(keys, ns=(0, 0))  # so that polling alone would not see the change
        process.send_signal(signal.SIGHUP)
        _until(lambda: _accepted(url, "hashed-key"), timeout=2.0)
        assert not _accepted(url, "new-key") and not _accepted(url, hashed)
        # A broken file keeps the keys in force.
        keys.write_text("sha256:not-hex\n")
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert _accepted(url, "hashed-key")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert "hashed-key" not in err and "new-key" not in err and "old-key" not in err
    assert "client keys reloaded" in err and "not reloaded" in err
