"""Every Kafka user gets the librdkafka settings from the environment the same way the job does.

Each case sets ``MIDSTREAM_KAFKA_*`` for a SASL login and a client id of its
own, builds the user's real confluent-kafka clients against the real
(plaintext) broker, and reads librdkafka's own log: the client named by that
id must attempt a SASL handshake. A client built without the settings would
connect in plaintext under librdkafka's default name and log nothing, so each
case fails if its user drops the settings. The password must never be logged.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from midstream.cli.main import main as midstream_main
from midstream.connectors.kafka import ClientSettings, make_producer
from midstream.connectors.kafka import sink as kafka_sink
from midstream.connectors.media.publisher import KafkaRecordPublisher
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.realtime.config import RelayConfig
from midstream.connectors.openai.realtime.kafka_clients import kafka_clients
from midstream.connectors.openai.tap import tap
from midstream.flows.routing import kafka_endpoints
from tests.integration.jobs import consume_all

PASSWORD = "never-logged-pw"
TOPIC_NAMES = ("tokens", "insights", "control", "feedback", "dlq", "media")
"""Every field of ``Topics``: tests of ``midstream topics`` give each a fresh name."""


def sasl_env(brokers: str, client_id: str) -> dict[str, str]:
    return {
        "MIDSTREAM_BROKERS": brokers,
        "MIDSTREAM_KAFKA_CLIENT_ID": client_id,
        "MIDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MIDSTREAM_KAFKA_SASL_MECHANISM": "PLAIN",
        "MIDSTREAM_KAFKA_SASL_USERNAME": "midstream",
        "MIDSTREAM_KAFKA_SASL_PASSWORD": PASSWORD,
        # Few retries: the broker is plaintext, so these clients never get in.
        "MIDSTREAM_KAFKA_RECONNECT_BACKOFF_MS": "5000",
        "MIDSTREAM_KAFKA_RECONNECT_BACKOFF_MAX_MS": "60000",
    }


def librdkafka_log(capfd: pytest.CaptureFixture[str], *needles: str,
                   timeout: float = 15.0) -> str:
    """librdkafka's stderr until every needle appeared (or the timeout passed)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += capfd.readouterr().err
        if all(needle in seen for needle in needles):
            break
        time.sleep(0.1)
    return seen


def job(brokers: str, topic: str, env: dict[str, str]) -> list[Any]:
    source, sink = kafka_endpoints(env, topic)
    reader = source.build_part("in", f"0-{topic}", None)
    writer = sink.build_part("out", "out-0", None)
    return [reader, writer]


def relay(brokers: str, topic: str, env: dict[str, str]) -> list[Any]:
    config = RelayConfig(upstream="ws://127.0.0.1:1/v1/realtime", client_keys=frozenset({"k"}),
                         brokers=brokers, control_topic=topic)
    producer, follower = kafka_clients(config, env)
    assert follower is not None
    follower.start()
    return [producer, follower]


def tap_with_brokers(brokers: str, topic: str, env: dict[str, str]) -> list[Any]:
    return [tap(iter(()), brokers=brokers, topic=topic, stream_id="tap-env")]


def media_edge(brokers: str, topic: str, env: dict[str, str]) -> list[Any]:
    return [KafkaRecordPublisher(brokers, topic)]


def control_follower(brokers: str, topic: str, env: dict[str, str]) -> list[Any]:
    follower = ControlFollower(brokers, topic)
    follower.start()
    return [follower]


USERS: dict[str, tuple[Callable[[str, str, dict[str, str]], list[Any]], tuple[str, ...]]] = {
    "job": (job, ("consumer", "producer")),
    "relay": (relay, ("producer", "consumer")),
    "tap": (tap_with_brokers, ("producer",)),
    "media_edge": (media_edge, ("producer",)),
    "control_follower": (control_follower, ("consumer",)),
}


@pytest.fixture
def clients() -> Iterator[list[Any]]:
    """The clients a test makes, closed after it (they point at a broker they cannot log in to)."""
    made: list[Any] = []
    shared_before = set(kafka_sink._producers)
    yield made
    for client in made:
        if isinstance(client, ControlFollower):
            client.stop()
        elif callable(getattr(client, "close", None)):
            client.close()
    # The job's sink shares one producer per process and settings; forget the ones made here,
    # or they go on retrying their SASL login for the rest of the test session.
    for settings in set(kafka_sink._producers) - shared_before:
        kafka_sink._producers.pop(settings).purge()


@pytest.mark.parametrize("user", sorted(USERS))
def test_a_sasl_setting_in_the_environment_reaches_the_users_clients(
        user: str, kafka_brokers: str, make_topics: Callable[..., list[str]],
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        clients: list[Any]) -> None:
    (topic,) = make_topics(user)
    client_id = f"env-{user}-{uuid.uuid4().hex[:8]}"
    env = sasl_env(kafka_brokers, client_id)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    build, kinds = USERS[user]
    capfd.readouterr()
    clients += build(kafka_brokers, topic, env)
    expected = [f"{client_id}#{kind}" for kind in kinds]
    log = librdkafka_log(capfd, *expected, "SASL PLAIN mechanism handshake failed")
    for name in expected:
        assert name in log, f"{name} never tried to log in:\n{log[-2000:]}"
    assert f"sasl_plaintext://{kafka_brokers}" in log
    assert PASSWORD not in log


def test_without_credentials_the_same_clients_reach_the_broker(
        kafka_brokers: str, make_topics: Callable[..., list[str]]) -> None:
    (topic,) = make_topics("plain")
    kafka = ClientSettings.from_env({"MIDSTREAM_BROKERS": kafka_brokers})
    producer = make_producer(kafka)
    producer.produce(topic, b'{"v":1}', key=b"s")
    assert producer.flush(10) == 0
    assert consume_all(kafka_brokers, topic, expect=1) == [{"v": 1}]


def test_midstream_topics_creates_topics_with_the_environments_settings(
        kafka_brokers: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    suffix = uuid.uuid4().hex[:8]
    client_id = f"env-topics-{suffix}"
    names = TOPIC_NAMES
    for name in names:
        monkeypatch.setenv(f"MIDSTREAM_TOPIC_{name.upper()}", f"{name}-{suffix}")
    monkeypatch.setenv("MIDSTREAM_KAFKA_CLIENT_ID", client_id)
    # librdkafka logs its protocol debug lines under the client's id, when asked to.
    monkeypatch.setenv("MIDSTREAM_KAFKA_DEBUG", "admin")
    capfd.readouterr()
    assert midstream_main(["topics", "--brokers", kafka_brokers, "--partitions", "2"]) == 0
    out = capfd.readouterr()
    assert f"{client_id}#producer" in out.err
    assert f"topics ready on {kafka_brokers}" in out.out
    kafka = ClientSettings(kafka_brokers)
    metadata = make_producer(kafka).list_topics(timeout=10).topics
    for name in names:
        assert len(metadata[f"{name}-{suffix}"].partitions) == 2


def test_midstream_topics_does_not_need_the_development_stack(kafka_brokers: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    script = (
        "import os, sys\n"
        "from midstream.cli.main import main\n"
        f"for name in {TOPIC_NAMES!r}:\n"
        f"    os.environ[f'MIDSTREAM_TOPIC_{{name.upper()}}'] = f'{{name}}-{suffix}'\n"
        f"assert main(['topics', '--brokers', '{kafka_brokers}']) == 0\n"
        "assert not [m for m in sys.modules if m.startswith('midstream.stack')]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
