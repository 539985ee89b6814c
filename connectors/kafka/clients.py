"""Building Kafka producers, consumers and admin clients: the only place MidStream does.

Each function takes the process's :class:`~midstream.connectors.kafka.settings.ClientSettings`
and the client's own tuning; the settings (credentials, TLS) override the tuning.

Every client gets an :class:`AuthenticationWatch` as its ``error_cb`` (unless its
tuning names one): a refused login or TLS handshake is logged once, clearly,
with the user and mechanism but never the password, instead of silently
retrying. librdkafka keeps reconnecting with exponential backoff (100 ms up to
``reconnect.backoff.max.ms``, 10 s), so a long-running client with wrong
credentials makes a few attempts a minute and recovers by itself once the
broker accepts the login; one-shot callers (the job's partition listing,
``midstream topics``) use :func:`cluster_metadata`, which gives up at the first
refusal with a :class:`~midstream.connectors.kafka.exceptions.KafkaAuthenticationError`.

Examples
--------
The process's settings reach librdkafka, which checks them when the client is built:

>>> from confluent_kafka import KafkaException
>>> from midstream.connectors.kafka.settings import ClientSettings
>>> try:
...     make_producer(ClientSettings("127.0.0.1:1", (("no.such.setting", "x"),)))
... except KafkaException as exc:
...     print(exc.args[0].str())
No such configuration property: "no.such.setting"
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

from midstream.connectors.kafka.exceptions import KafkaAuthenticationError
from midstream.connectors.kafka.settings import ClientSettings

__all__ = ["LIVE_PRODUCER", "AuthenticationWatch", "cluster_metadata", "make_admin",
           "make_consumer", "make_producer"]

log = logging.getLogger(__name__)

_REFUSALS = {KafkaError._AUTHENTICATION: "refused the login", KafkaError._SSL: "failed TLS"}

REPEAT_LOG_SECONDS = 60.0
"""A refusal that goes on is logged again at most this often, with the count so far."""

LIVE_PRODUCER: Mapping[str, Any] = {
    "enable.idempotence": True,
    "linger.ms": 1,
    "compression.type": "lz4",
}
"""An idempotent producer tuned for latency: token events and media records feed live decisions."""


class AuthenticationWatch:
    """An ``error_cb`` that turns refused logins and TLS failures into one clear log line.

    Parameters
    ----------
    kafka
        The settings the client was built with (for the user and mechanism in the message).

    Examples
    --------
    >>> watch = AuthenticationWatch(ClientSettings("k:9", (("sasl.username", "app"),
    ...                                                     ("sasl.password", "pw"))))
    >>> watch(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid"))
    >>> watch.refusals, "pw" in watch.describe()
    (1, False)
    >>> watch.describe()
    "Kafka at k:9 refused the login as user 'app' (mechanism GSSAPI): SASL authentication error: invalid"
    """

    def __init__(self, kafka: ClientSettings) -> None:
        settings = dict(kafka.librdkafka)
        self.brokers = kafka.brokers
        self.username = settings.get("sasl.username")
        self.mechanism = settings.get("sasl.mechanism", settings.get("sasl.mechanisms", "GSSAPI"))
        self.refusals = 0
        self._first: KafkaError | None = None
        self._logged_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, error: KafkaError) -> None:
        """Receive one error from librdkafka (its background thread, or the poll)."""
        if error.code() not in _REFUSALS:
            log.debug("Kafka client error at %s: %s", self.brokers, error.str())
            return
        with self._lock:
            self.refusals += 1
            self._first = self._first or error
            now = time.monotonic()
            if now - self._logged_at < REPEAT_LOG_SECONDS:
                return
            self._logged_at = now
        log.error("%s (%d attempts so far; retrying with backoff up to "
                  "reconnect.backoff.max.ms). Check MIDSTREAM_KAFKA_SASL_USERNAME, "
                  "MIDSTREAM_KAFKA_SASL_PASSWORD and the MIDSTREAM_KAFKA_SSL_* settings.",
                  self.describe(), self.refusals)

    def describe(self) -> str:
        """Say what was refused, by whom and why (librdkafka's reason; it never holds secrets)."""
        error = self._first
        if error is None:
            return f"Kafka at {self.brokers}: no login refused"
        if error.code() == KafkaError._SSL:
            return f"Kafka at {self.brokers} failed the TLS handshake: {error.str()}"
        user = f"as user {self.username!r}" if self.username else "without a SASL user"
        return (f"Kafka at {self.brokers} refused the login {user} "
                f"(mechanism {self.mechanism}): {error.str()}")

    def raise_if_refused(self) -> None:
        """Raise :class:`KafkaAuthenticationError` if a login or handshake was refused."""
        if self._first is not None:
            raise KafkaAuthenticationError(
                f"{self.describe()}. Check MIDSTREAM_KAFKA_SASL_USERNAME, "
                "MIDSTREAM_KAFKA_SASL_PASSWORD and the MIDSTREAM_KAFKA_SSL_* settings.")


def _config(kafka: ClientSettings, tuning: Mapping[str, Any] | None) -> dict[str, Any]:
    config = kafka.client_config(tuning)
    config.setdefault("error_cb", AuthenticationWatch(kafka))
    return config


def make_producer(kafka: ClientSettings, tuning: Mapping[str, Any] = LIVE_PRODUCER) -> Producer:
    """Make a producer with ``tuning`` (default :data:`LIVE_PRODUCER`) under the process's settings."""
    return Producer(_config(kafka, tuning))


def make_consumer(kafka: ClientSettings, tuning: Mapping[str, Any]) -> Consumer:
    """Make a consumer; ``tuning`` must name its ``group.id`` (callbacks may go in too)."""
    return Consumer(_config(kafka, tuning))


def make_admin(kafka: ClientSettings, tuning: Mapping[str, Any] | None = None) -> AdminClient:
    """Make an admin client, for topic metadata and creation."""
    return AdminClient(_config(kafka, tuning))


def cluster_metadata(kafka: ClientSettings, topic: str | None = None, *,
                     timeout: float = 30.0) -> tuple[AdminClient, ClusterMetadata]:
    """Make an admin client and read the cluster's metadata, failing fast on a refused login.

    A plain ``list_topics(timeout=30)`` with wrong credentials keeps logging in
    for 30 s and then reports only "Broker transport failure". This asks in
    one-second rounds and stops at the first refusal.

    Raises
    ------
    KafkaAuthenticationError
        The broker refused the login or the TLS handshake.
    confluent_kafka.KafkaException
        The broker did not answer within ``timeout`` for another reason.
    """
    watch = AuthenticationWatch(kafka)
    admin = AdminClient({**kafka.client_config({"error_cb": watch})})
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin, admin.list_topics(topic, timeout=max(0.1, min(
                1.0, deadline - time.monotonic())))
        except KafkaException:
            admin.poll(0)  # serves error_cb
            watch.raise_if_refused()
            if time.monotonic() >= deadline:
                raise
