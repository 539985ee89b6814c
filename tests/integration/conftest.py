"""Fixtures that give integration tests a real Kafka broker and a real Prometheus server.

If ``midstream stack up`` (or ``make stack-up``) left a running stack, the
fixtures reuse it. Otherwise they start a private one on free ports for the
test session and stop it at the end. When a service cannot be started (no
Java, no jars, no Prometheus), the tests are skipped, except under
``CI=true``, where that is a failure: CI must never pass by skipping.

Every test in this directory is marked ``integration``, so
``pytest -m 'not integration'`` runs the quick ones only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from midstream.stack import (
    StackError,
    StackState,
    create_topics,
    read_state,
    start_kafka,
    start_prometheus,
    stop_kafka,
    stop_prometheus,
)
from midstream.stack.kafka import KafkaBroker, SaslSsl
from midstream.stack.nginx_rtmp import NginxRtmpServer, start_nginx_rtmp, stop_nginx_rtmp
from midstream.stack.tls import make_pki
from tests.integration.media_peers import Publisher, stop_publisher

if TYPE_CHECKING:
    from midstream.connectors.media.pull import MediaPuller

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/integration`` as ``integration``."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def in_ci() -> bool:
    """Tell whether we run under CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test because a service is missing, or fail under CI.

    Raises
    ------
    pytest.fail.Exception or pytest.skip.Exception
        Always.
    """
    if in_ci():
        pytest.fail(f"{reason}\n(CI=true: integration services are required)", pytrace=False)
    pytest.skip(reason)


def _running_stack() -> StackState | None:
    try:
        return read_state()
    except StackError:
        return None


@pytest.fixture(scope="session")
def kafka_brokers() -> Iterator[str]:
    """Bootstrap servers (``"127.0.0.1:<port>"``) of a real Kafka broker."""
    state = _running_stack()
    if state is not None and state.kafka.is_running():
        yield state.brokers
        return
    try:
        broker = start_kafka(port=0)
    except StackError as exc:
        problem = str(exc)  # Reported outside the handler: no "during handling" noise.
    else:
        problem = ""
    if problem:
        unavailable(f"cannot start a Kafka broker: {problem}")
    try:
        yield broker.brokers
    finally:
        stop_kafka(broker)


SCRAM_PASSWORD = "scram-pw-d41c9e"
"""The secured broker's SCRAM password: tests grep every output for it."""
TLS_KEY_PASSWORD = "tls-key-pw-8b27f0"
"""The password of the secured broker's and clients' private keys: grepped for too."""


@pytest.fixture(scope="session")
def secured_kafka() -> Iterator[tuple[KafkaBroker, SaslSsl]]:
    """A private broker with a SASL_SSL (SCRAM-SHA-512) listener and the plain one.

    Certificates are generated for the session (``make_pki``); clients must
    present one too (``ssl.client.auth=required``), so the client key password
    is a secret our processes hold. Use ``broker.secure_brokers`` with
    ``secure.client_env(...)``, and ``broker.brokers`` (plaintext) for setup.
    """
    tls = Path(tempfile.mkdtemp(prefix="midstream-tls-"))
    secure = SaslSsl(make_pki(tls, key_password=TLS_KEY_PASSWORD), "midstream",
                     SCRAM_PASSWORD, client_auth="required")
    try:
        broker = start_kafka(port=0, secure=secure)
    except StackError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        shutil.rmtree(tls, ignore_errors=True)
        unavailable(f"cannot start a secured Kafka broker: {problem}")
    try:
        yield broker, secure
    finally:
        stop_kafka(broker)
        shutil.rmtree(tls, ignore_errors=True)


@pytest.fixture(scope="session")
def prometheus_url() -> Iterator[str]:
    """Base URL (``"http://127.0.0.1:<port>"``) of a real Prometheus server.

    It scrapes the default targets, ``127.0.0.1:3030`` and ``127.0.0.1:9464``,
    every second.
    """
    state = _running_stack()
    if state is not None and state.prometheus is not None and state.prometheus.is_running():
        yield state.prometheus.url
        return
    try:
        server = start_prometheus(port=0)
    except StackError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        unavailable(f"cannot start Prometheus: {problem}")
    try:
        yield server.url
    finally:
        stop_prometheus(server)


@pytest.fixture
def make_topics(kafka_brokers: str) -> Callable[..., list[str]]:
    """Return a function that creates fresh, uniquely named topics.

    ``make_topics("tokens", "insights", partitions=4)`` creates
    ``tokens-<id>`` and ``insights-<id>`` (one shared random ``<id>`` per call)
    and returns the names in order, once every partition has a leader. With no
    names it creates one topic called ``test-<id>``. Topics are left in place
    for inspection; they vanish with the stack.
    """

    def make(*names: str, partitions: int = 1) -> list[str]:
        suffix = uuid.uuid4().hex[:12]
        topics = [f"{name}-{suffix}" for name in (names or ("test",))]
        create_topics(kafka_brokers, topics, partitions)
        return topics

    return make


@pytest.fixture(scope="session")
def kcat() -> str:
    """Path of the ``kcat`` executable, an independent Kafka client."""
    path = shutil.which("kcat")
    if path is None:
        unavailable("kcat is not installed (apt-get install kcat; deploy/setup.sh does it)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of ``promtool`` (from Debian's ``prometheus`` package)."""
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not installed (apt-get install prometheus)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """Path of the ``ffmpeg`` executable, which publishes the media test patterns."""
    path = shutil.which("ffmpeg")
    if path is None:
        unavailable("ffmpeg is not installed (apt-get install ffmpeg; deploy/setup.sh does it)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def nginx_rtmp(ffmpeg: str) -> Iterator[NginxRtmpServer]:
    """A private nginx with the RTMP module (live application ``live``, HLS served over HTTP).

    Publish to ``server.stream_url(name)``, read HLS at ``server.hls_url(name)``.
    Use a fresh name per test: nginx-rtmp keeps stale playlists of old names.
    """
    try:
        server = start_nginx_rtmp()
    except StackError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        unavailable(f"cannot start nginx with the RTMP module: {problem}")
    try:
        yield server
    finally:
        stop_nginx_rtmp(server)


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    """Media publishers (ffmpeg) a test starts; each is stopped by PID at teardown."""
    started: list[Publisher] = []
    yield started
    for publisher in started:
        stop_publisher(publisher)


@pytest.fixture
def pullers() -> Iterator[list[MediaPuller]]:
    """Media pullers a test starts; each is stopped at teardown."""
    started: list[MediaPuller] = []
    yield started
    for puller in started:
        puller.stop(timeout=10.0)
