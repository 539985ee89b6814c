"""Creating MidStream's topics and waiting until the broker really serves them.

Used by ``midstream topics`` in production and by the local stack in tests.
A new topic can report a leader in its metadata a moment before that broker
serves it; a produce in that window fails and, retried, lands out of order.
So :func:`create_topics` returns only once ListOffsets answers for every
partition.

Examples
--------
Needs a broker, so not run here::

    from midstream.connectors.kafka.settings import ClientSettings
    create_topics(ClientSettings.from_env(), ["midstream.llm.tokens"], partitions=4)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from midstream.connectors.kafka.clients import cluster_metadata
from midstream.connectors.kafka.exceptions import KafkaAuthenticationError, TopicSetupError
from midstream.connectors.kafka.settings import ClientSettings

__all__ = ["create_topics", "wait_until_served"]


def create_topics(
    kafka: ClientSettings,
    names: Iterable[str],
    partitions: int = 1,
    *,
    replication_factor: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create topics, and wait until the broker serves every partition of each.

    Idempotent: a topic that already exists is accepted as it is, whatever its
    partition count.

    Parameters
    ----------
    kafka
        Where the broker is and how to reach it.
    names
        Topic names.
    partitions
        Partition count for new topics.
    replication_factor
        Replicas of each new partition (1 for a single broker).
    config
        Topic-level settings for new topics, e.g. ``{"retention.ms": "600000"}``.
    timeout
        Seconds allowed for creation and for the topics to be served.

    Raises
    ------
    TopicSetupError
        If the broker refuses the login or the TLS handshake (said so in the
        message), rejects a topic, or does not serve them all within ``timeout``.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    try:
        # Fails fast, with a clear message, when the broker refuses the login.
        admin, _ = cluster_metadata(kafka, timeout=timeout)
    except KafkaAuthenticationError as exc:
        raise TopicSetupError(str(exc)) from exc
    except KafkaException as exc:
        raise TopicSetupError(f"cannot reach Kafka at {kafka.brokers}: {exc.args[0].str()}") from exc
    new_topics = [
        NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                 config=dict(config or {}))
        for name in wanted
    ]
    futures = admin.create_topics(new_topics, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicSetupError(f"could not create topic {name!r}: {error.str()}") from exc
    wait_until_served(admin, wanted, timeout)


def wait_until_served(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Block until every partition of ``names`` has a leader that answers ListOffsets.

    Raises
    ------
    TopicSetupError
        If some are still not served after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        missing = _not_served(admin, names)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TopicSetupError(f"topics not ready after {timeout:.0f} s: {', '.join(missing)}")
        time.sleep(0.1)


def _not_served(admin: AdminClient, names: list[str]) -> list[str]:
    """Return the topics whose partitions the broker cannot serve yet."""
    try:
        topics = admin.list_topics(timeout=5.0).topics
    except KafkaException:
        return names
    missing = [
        name
        for name in names
        if name not in topics
        or topics[name].error is not None
        or not topics[name].partitions
        or any(p.leader < 0 for p in topics[name].partitions.values())
    ]
    if missing:
        return missing
    # A leader in the metadata is not yet a leader that serves: ListOffsets succeeds only then.
    requests = {
        TopicPartition(name, partition): OffsetSpec.latest()
        for name in names
        for partition in topics[name].partitions
    }
    not_served: set[str] = set()
    for tp, future in admin.list_offsets(requests, request_timeout=5.0).items():
        try:
            future.result()
        except KafkaException:
            not_served.add(tp.topic)
    return sorted(not_served)
