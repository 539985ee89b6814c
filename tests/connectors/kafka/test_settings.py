"""ClientSettings: one reading of MIDSTREAM_BROKERS and MIDSTREAM_KAFKA_*, secrets never shown."""

from __future__ import annotations

from midstream.connectors.kafka.settings import ClientSettings, client_settings
from midstream.connectors.openai.gateway.config import GatewayConfig, from_sources
from midstream.core.config import KafkaSettings

SECURED = {
    "MIDSTREAM_BROKERS": "k1:9093,k2:9093",
    "MIDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "MIDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "MIDSTREAM_KAFKA_SASL_USERNAME": "midstream",
    "MIDSTREAM_KAFKA_SASL_PASSWORD": "s3cret-pw",
    "MIDSTREAM_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
    "MIDSTREAM_KAFKA_BATCH_SIZE": "500",
}


def test_settings_come_from_the_environment_as_librdkafka_names() -> None:
    kafka = ClientSettings.from_env(SECURED)
    assert kafka.brokers == "k1:9093,k2:9093"
    assert dict(kafka.librdkafka) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "midstream", "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_the_jobs_batch_size_is_not_a_librdkafka_setting() -> None:
    kafka = ClientSettings.from_env(SECURED)
    assert "batch.size" not in dict(kafka.librdkafka)
    assert KafkaSettings.from_env(SECURED).batch_size == 500


def test_the_job_and_every_client_read_the_same_settings() -> None:
    assert ClientSettings.from_env(SECURED).librdkafka == KafkaSettings.from_env(SECURED).extra
    gateway = from_sources(GatewayConfig(upstream="http://127.0.0.1:1/v1",
                                         brokers="k1:9093,k2:9093"), env=SECURED)
    assert gateway.kafka_settings == ClientSettings.from_env(SECURED).librdkafka


def test_secrets_are_never_shown() -> None:
    kafka = ClientSettings.from_env(SECURED)
    shown = repr(kafka) + str(kafka)
    assert "s3cret-pw" not in shown and "midstream'" not in shown
    assert "sasl.password=***" in shown and "k1:9093" in shown


def test_client_config_lets_the_operator_override_a_clients_tuning() -> None:
    kafka = ClientSettings("k:1", (("linger.ms", "50"), ("sasl.password", "pw")))
    config = kafka.client_config({"linger.ms": 1, "group.id": "g"})
    assert config == {"bootstrap.servers": "k:1", "linger.ms": "50", "group.id": "g",
                      "sasl.password": "pw"}


def test_bootstrap_servers_alone_take_their_settings_from_the_environment() -> None:
    assert client_settings("x:1", SECURED) == ClientSettings("x:1", ClientSettings.from_env(
        SECURED).librdkafka)
    assert client_settings(["a:1", "b:2"], {}).brokers == "a:1,b:2"
    explicit = ClientSettings("x:1")
    assert client_settings(explicit, SECURED) is explicit
