"""Every Kafka user of MidStream against a real broker's SASL_SSL listener (SCRAM-SHA-512, TLS).

The broker is the project's own (``midstream.stack.kafka`` with ``secure=``),
with certificates generated for the session and client certificates required.
Each component is configured only through ``MIDSTREAM_*`` settings; setup and
checks go through the broker's plaintext listener. Every output of every
component (logs, stderr, errors, ``/metrics``) is searched for the secrets.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

import msgspec
import pytest
from prometheus_client import generate_latest

from midstream.cli.sample_streams import demo_streams
from midstream.connectors.kafka import ClientSettings
from midstream.connectors.media.publisher import KafkaRecordPublisher
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.realtime.config import RelayConfig
from midstream.connectors.openai.realtime.kafka_clients import kafka_clients
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.events import control
from midstream.core.media_events import MediaRecord
from midstream.stack.kafka import KafkaBroker, SaslSsl
from midstream.stack.process import free_port
from tests.connectors.openai.gateway.servers import CLIENT_KEY, UPSTREAM_KEY, Servers
from tests.doubles.openai_upstream.http import Script
from tests.integration.conftest import SCRAM_PASSWORD, TLS_KEY_PASSWORD
from tests.integration.jobs import (
    REPO,
    consume_all,
    fresh_topics,
    job_env,
    produce,
    reference_results,
    start_job,
    stop_job,
)

SECRETS = (SCRAM_PASSWORD, TLS_KEY_PASSWORD, CLIENT_KEY, UPSTREAM_KEY)
WRONG_PASSWORD = "wrong-pw-0c5d2a"


def assert_no_secret(text: str, *more: str) -> None:
    for secret in (*SECRETS, *more):
        assert secret not in text, f"a secret leaked: {secret[:4]}..."


def secured_env(secured: tuple[KafkaBroker, SaslSsl], **overrides: str) -> dict[str, str]:
    broker, secure = secured
    return {**secure.client_env(broker.secure_brokers), **overrides}


def failed_logins(broker: KafkaBroker) -> int:
    """Logins the broker refused so far, from its own log."""
    return len(re.findall(r"Failed authentication with", broker.log_path.read_text(
        errors="replace")))


@pytest.fixture
def secured(secured_kafka: tuple[KafkaBroker, SaslSsl], monkeypatch: pytest.MonkeyPatch
            ) -> tuple[KafkaBroker, SaslSsl]:
    """The secured broker, with its client settings in this process's environment."""
    for name, value in secured_env(secured_kafka).items():
        monkeypatch.setenv(name, value)
    return secured_kafka


def test_the_job_reads_and_writes_through_sasl_ssl(secured: tuple[KafkaBroker, SaslSsl],
                                                   make_secure_topics: Any) -> None:
    broker, _ = secured
    topics = make_secure_topics()
    events = demo_streams(t0=1_000_000.0)
    produce(broker.brokers, topics.tokens, events)
    port = free_port()
    env = job_env(broker.secure_brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest",
                  MIDSTREAM_STALL_SECONDS="1000", MIDSTREAM_ABANDON_SECONDS="1000",
                  BYTEWAX_DATAFLOW_API_ENABLED="1", BYTEWAX_DATAFLOW_API_PORT=str(port),
                  **secured_env(secured))
    expected = reference_results(events, AnalysisConfig(stall_seconds=1000,
                                                        abandon_seconds=1000))
    # A tailing job never reaches the end of input, where the reference run closes the
    # stream that has no end event as abandoned.
    expected = {k: v for k, v in expected.items() if v.get("kind") != "abandoned"}
    job = start_job(env)
    try:
        deadline = time.monotonic() + 90
        got: list[dict[str, Any]] = []
        while len(got) < len(expected) and time.monotonic() < deadline:
            time.sleep(1)
            got = (consume_all(broker.brokers, topics.insights)
                   + consume_all(broker.brokers, topics.control))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            metrics = reply.read().decode()
    finally:
        output = stop_job(job)
    assert {r["id"]: r for r in got} == expected, output[-3000:]
    assert "midstream_insights_total" in metrics
    assert_no_secret(output + metrics)


def test_midstream_topics_creates_topics_through_sasl_ssl(
        secured: tuple[KafkaBroker, SaslSsl]) -> None:
    broker, _ = secured
    suffix = uuid.uuid4().hex[:8]
    names = {f"MIDSTREAM_TOPIC_{n.upper()}": f"{n}-{suffix}" for n in
             ("tokens", "insights", "control", "feedback", "dlq", "media")}
    env = {**job_env(broker.secure_brokers, Topics(), **secured_env(secured)), **names}
    done = subprocess.run([sys.executable, "-m", "midstream.cli.main", "topics", "--brokers",
                           broker.secure_brokers], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    metadata = ClientSettings(broker.brokers)
    from midstream.connectors.kafka import make_producer

    listed = make_producer(metadata).list_topics(timeout=10).topics
    assert set(names.values()) <= set(listed)
    assert_no_secret(done.stdout + done.stderr)


def test_gateway_tap_and_control_follower_through_sasl_ssl(
        secured: tuple[KafkaBroker, SaslSsl], make_secure_topics: Any,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    broker, _ = secured
    topics = make_secure_topics()
    settings = ClientSettings.from_env(brokers=broker.secure_brokers)
    caplog.set_level(logging.DEBUG)
    with Servers({"plain": Script(pieces=("Hello", ",", " world"))}, topics=topics,
                 brokers=broker.secure_brokers, kafka_settings=settings.librdkafka) as servers:
        reply = servers.client().chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "hi"}], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        assert text == "Hello, world"
        tapped = consume_all(broker.brokers, topics.tokens, expect=5, timeout=30)
        assert tapped[0]["kind"] == "start" and tapped[-1]["kind"] == "end"
        assert servers.gateway is not None
        follower = servers.gateway.services.follower
        assert follower is not None and follower.ready.is_set()
        metrics = generate_latest(servers.registry).decode()
    assert_no_secret(caplog.text + capfd.readouterr().err + metrics)


def test_relay_media_edge_and_follower_clients_through_sasl_ssl(
        secured: tuple[KafkaBroker, SaslSsl], make_secure_topics: Any,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    broker, _ = secured
    topics = make_secure_topics()
    caplog.set_level(logging.DEBUG)
    # The Realtime relay's two clients.
    config = RelayConfig(upstream="ws://127.0.0.1:1/v1/realtime", client_keys=frozenset({"k"}),
                         brokers=broker.secure_brokers, control_topic=topics.control)
    producer, follower = kafka_clients(config)
    assert producer is not None and follower is not None
    seen: list[dict[str, Any]] = []
    follower.register("relay-1", seen.append)
    follower.start()
    try:
        assert follower.ready.wait(30)
        produce(broker.brokers, topics.control, [msgspec.to_builtins(control(
            stream_id="relay-1", ts=1.0, action="stop", reason="test", at_seq=1))])
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [d["action"] for d in seen] == ["stop"]
        producer.produce(topics.tokens, b'{"from":"relay"}', key=b"relay-1")
        assert producer.flush(30) == 0
        # The media edge.
        edge = KafkaRecordPublisher(broker.secure_brokers, topics.media)
        edge(MediaRecord(v=1, stream_id="cam-1", seq=0, ts=1.0, kind="video", fps=25.0))
        assert edge.flush(30) == 0 and edge.sent == 1 and edge.dropped == 0
    finally:
        follower.stop()
    assert consume_all(broker.brokers, topics.tokens, expect=1) == [{"from": "relay"}]
    assert [r["stream_id"] for r in consume_all(broker.brokers, topics.media, expect=1)] == [
        "cam-1"]
    assert_no_secret(caplog.text + capfd.readouterr().err)


def test_wrong_credentials_stop_the_job_and_topics_with_a_clear_error_and_few_attempts(
        secured: tuple[KafkaBroker, SaslSsl], make_secure_topics: Any) -> None:
    broker, _ = secured
    topics = make_secure_topics()
    env = job_env(broker.secure_brokers, topics,
                  **secured_env(secured, MIDSTREAM_KAFKA_SASL_PASSWORD=WRONG_PASSWORD))
    before = failed_logins(broker)
    started = time.monotonic()
    job = start_job(env)
    try:
        job.wait(timeout=60)
    finally:
        output = stop_job(job)
    took = time.monotonic() - started
    assert job.returncode != 0
    assert "refused the login as user 'midstream' (mechanism SCRAM-SHA-512)" in output, output
    assert "MIDSTREAM_KAFKA_SASL_PASSWORD" in output
    topics_run = subprocess.run(
        [sys.executable, "-m", "midstream.cli.main", "topics", "--brokers", broker.secure_brokers],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert topics_run.returncode == 1
    assert "error: Kafka at" in topics_run.stderr and "refused the login" in topics_run.stderr
    assert "Traceback" not in topics_run.stderr
    attempts = failed_logins(broker) - before
    # One or two logins each, not a storm; a plain 30 s list_topics made ~20.
    assert 1 <= attempts <= 8, attempts
    assert took < 45
    assert_no_secret(output + topics_run.stdout + topics_run.stderr, WRONG_PASSWORD)


def test_a_long_running_client_with_wrong_credentials_backs_off_and_says_so_once(
        secured: tuple[KafkaBroker, SaslSsl], make_secure_topics: Any,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    broker, _ = secured
    topics = make_secure_topics()
    wrong = ClientSettings.from_env(
        secured_env(secured, MIDSTREAM_KAFKA_SASL_PASSWORD=WRONG_PASSWORD),
        brokers=broker.secure_brokers)
    caplog.set_level(logging.ERROR, logger="midstream.connectors.kafka.clients")
    before = failed_logins(broker)
    follower = ControlFollower(wrong, topics.control)
    follower.start()
    try:
        time.sleep(15)
    finally:
        follower.stop()
    attempts = failed_logins(broker) - before
    # librdkafka's backoff (100 ms doubling to 10 s) plus the broker's 1 s delay per refusal.
    assert 1 <= attempts <= 14, attempts
    refusals = [r for r in caplog.records if "refused the login" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert "as user 'midstream'" in refusals[0].getMessage()
    assert_no_secret(caplog.text + capfd.readouterr().err, WRONG_PASSWORD)


@pytest.fixture
def make_secure_topics(secured_kafka: tuple[KafkaBroker, SaslSsl]) -> Any:
    broker, _ = secured_kafka

    def make() -> Any:
        from midstream.stack import create_topics

        return fresh_topics(lambda *names, partitions: _create(create_topics, broker, names,
                                                                 partitions), partitions=2)

    return make


def _create(create: Any, broker: KafkaBroker, names: tuple[str, ...], partitions: int
            ) -> list[str]:
    suffix = uuid.uuid4().hex[:12]
    topics = [f"{name}-{suffix}" for name in names]
    create(broker.brokers, topics, partitions)
    return topics
