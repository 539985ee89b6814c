"""Run a real Apache Kafka 4.x broker (KRaft, one combined broker+controller node) for local use.

The broker is assembled from Maven Central jars in ``deploy/kafka/lib/``
(``deploy/kafka/fetch.sh``) and started with plain ``java``: no Docker, no
ZooKeeper, no Kafka distribution tarball. It listens on ``127.0.0.1`` only,
keeps its data in a fresh temporary directory, and is tuned for tests: every
replication factor is 1, consumer groups join without the initial rebalance
delay, and topics are never created implicitly.

Examples
--------
The configuration is plain text, built in code:

>>> text = server_properties(19092, 19093, Path("/tmp/k/data"))
>>> "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in text.splitlines()
True
>>> len(new_cluster_id())
22

Starting one needs Java 17+ and the jars (not run here)::

    broker = start_kafka(port=0)            # free ports, waits until it serves metadata
    create_topics(broker.brokers, ["midstream.llm.tokens"], partitions=4)
    restart_kafka(broker, signal.SIGKILL)   # a crash, then the same broker on the same ports
    stop_kafka(broker)

With ``secure=SaslSsl(...)`` the broker gets a second client listener that
speaks TLS and authenticates with SASL/SCRAM-SHA-512; the SCRAM credentials are
written into the storage when it is formatted (``--add-scram``), and the
plaintext listener stays for setup (topic creation, reading results)::

    pki = make_pki(tmp / "tls", key_password="...")
    broker = start_kafka(port=0, secure=SaslSsl(pki, "midstream", "..."))
    broker.secure_brokers                    # "127.0.0.1:<sasl port>"
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from midstream.connectors.kafka import admin
from midstream.connectors.kafka.clients import make_admin
from midstream.connectors.kafka.exceptions import TopicSetupError
from midstream.connectors.kafka.settings import ClientSettings
from midstream.stack.exceptions import StackError
from midstream.stack.paths import HOST, deploy_dir
from midstream.stack.process import (
    ensure_port_free,
    exit_description,
    free_port,
    is_alive,
    spawn,
    tail,
    terminate,
)
from midstream.stack.tls import Pki
from midstream.stack.workdir import make_work_dir, remove_work_dir

DEFAULT_PORT = 19092
"""Client (PLAINTEXT) listener port. The controller listener defaults to the next port."""

MIN_JAVA = 17
"""Kafka 4.x brokers need Java 17 or newer."""

MESSAGE_MAX_BYTES = 4 * 1024 * 1024
"""Largest record batch the broker accepts.

Generous on purpose: tests send ~1 MB payloads that the application, not the
broker, must reject. Note that producers have their own limit
(librdkafka ``message.max.bytes``, 1,000,000 by default).
"""

_INTERNAL_TOPIC_PARTITIONS = 4

SCRAM_MECHANISM = "SCRAM-SHA-512"
"""The SASL mechanism of the secured listener."""


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL client listener: TLS with the given certificates, SCRAM-SHA-512 logins.

    Attributes
    ----------
    pki
        The CA, the broker's keystore and the key password (:func:`~midstream.stack.tls.make_pki`).
    username, password
        The one SCRAM user the broker knows.
    port
        Listener port on ``127.0.0.1``; ``0`` picks a free one.
    client_auth
        Kafka's ``ssl.client.auth``: ``"required"`` makes clients present a
        certificate signed by the CA as well as log in.
    """

    pki: Pki
    username: str
    password: str = field(repr=False)
    port: int = 0
    client_auth: str = "none"

    def client_env(self, brokers: str) -> dict[str, str]:
        """Return the ``MIDSTREAM_*`` environment a MidStream process needs to use this listener.

        Examples
        --------
        >>> from pathlib import Path
        >>> pki = Pki(Path("ca"), Path("ks"), Path("c"), Path("k"), "kp")
        >>> env = SaslSsl(pki, "u", "p").client_env("127.0.0.1:9")
        >>> env["MIDSTREAM_KAFKA_SECURITY_PROTOCOL"], env["MIDSTREAM_KAFKA_SASL_MECHANISM"]
        ('SASL_SSL', 'SCRAM-SHA-512')
        """
        env = {
            "MIDSTREAM_BROKERS": brokers,
            "MIDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "MIDSTREAM_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "MIDSTREAM_KAFKA_SASL_USERNAME": self.username,
            "MIDSTREAM_KAFKA_SASL_PASSWORD": self.password,
            "MIDSTREAM_KAFKA_SSL_CA_LOCATION": str(self.pki.ca),
        }
        if self.client_auth != "none":
            env |= {
                "MIDSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION": str(self.pki.client_certificate),
                "MIDSTREAM_KAFKA_SSL_KEY_LOCATION": str(self.pki.client_key),
                "MIDSTREAM_KAFKA_SSL_KEY_PASSWORD": self.pki.key_password,
            }
        return env


@dataclass(frozen=True)
class KafkaBroker:
    """A broker process started by :func:`launch_kafka`.

    Attributes
    ----------
    pid
        Process id of the ``java`` process (also its process-group id).
    port
        Client listener port on ``127.0.0.1``.
    controller_port
        KRaft controller listener port on ``127.0.0.1``.
    cluster_id
        The id the storage was formatted with; readiness checks compare it.
    work_dir
        Private directory holding ``server.properties``, ``broker.log`` and
        the log segments in ``data/``. Removed by :func:`stop_kafka`.
    secure_port
        The SASL_SSL listener's port, when the broker has one.
    """

    pid: int
    port: int
    controller_port: int
    cluster_id: str
    work_dir: Path
    secure_port: int | None = None

    @property
    def brokers(self) -> str:
        """Bootstrap servers string for clients, ``"127.0.0.1:<port>"``."""
        return f"{HOST}:{self.port}"

    @property
    def secure_brokers(self) -> str:
        """Bootstrap servers of the SASL_SSL listener, ``"127.0.0.1:<secure_port>"``."""
        if self.secure_port is None:
            raise StackError("this broker has no SASL_SSL listener (start it with secure=...)")
        return f"{HOST}:{self.secure_port}"

    @property
    def log_path(self) -> Path:
        """The broker's log (stdout and stderr of the JVM)."""
        return self.work_dir / "broker.log"

    @property
    def properties_path(self) -> Path:
        """The generated ``server.properties``."""
        return self.work_dir / "server.properties"

    def is_running(self) -> bool:
        """Tell whether the broker process is still alive (and still this broker)."""
        return is_alive(self.pid, marker=str(self.work_dir))


def new_cluster_id() -> str:
    """Return a fresh KRaft cluster id: base64url of 16 random bytes, without padding.

    Examples
    --------
    >>> cid = new_cluster_id()
    >>> len(base64.urlsafe_b64decode(cid + "=="))
    16
    """
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


def server_properties(
    port: int,
    controller_port: int,
    data_dir: Path,
    *,
    message_max_bytes: int = MESSAGE_MAX_BYTES,
    secure: SaslSsl | None = None,
) -> str:
    """Return the ``server.properties`` text for a single-node KRaft broker.

    Parameters
    ----------
    port
        Client listener port on ``127.0.0.1``.
    controller_port
        Controller listener port on ``127.0.0.1``.
    data_dir
        The broker's ``log.dirs`` (segments and KRaft metadata).
    message_max_bytes
        Largest record batch the broker accepts.
    secure
        Adds a SASL_SSL listener on ``secure.port`` (which must not be 0 here).
        The key password is written into the file, as Kafka needs it; the SCRAM
        password is not (it goes into the storage at format time).

    Examples
    --------
    >>> props = server_properties(1, 2, Path("/d")).splitlines()
    >>> "process.roles=broker,controller" in props, "log.dirs=/d" in props
    (True, True)
    """
    settings: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": data_dir,
        # One node: every internal topic must live with a single replica.
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # Few internal partitions and no join delay make the first group join fast.
        "offsets.topic.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "transaction.state.log.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "share.coordinator.state.topic.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "group.initial.rebalance.delay.ms": 0,
        "num.partitions": 1,
        # Topics exist only when created on purpose; a typo must not create one.
        "auto.create.topics.enable": "false",
        "message.max.bytes": message_max_bytes,
        "replica.fetch.max.bytes": message_max_bytes,
    }
    if secure is not None:
        settings |= _secure_settings(port, controller_port, secure)
    lines = ["# Generated by midstream.stack.kafka; edits are lost on the next start."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _secure_settings(port: int, controller_port: int, secure: SaslSsl) -> dict[str, object]:
    listener = f"SASL_SSL://{HOST}:{secure.port}"
    prefix = "listener.name.sasl_ssl"
    return {
        "listeners": f"PLAINTEXT://{HOST}:{port},{listener},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},{listener}",
        "listener.security.protocol.map":
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        f"{prefix}.sasl.enabled.mechanisms": SCRAM_MECHANISM,
        f"{prefix}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        f"{prefix}.ssl.keystore.type": "PKCS12",
        f"{prefix}.ssl.keystore.location": secure.pki.server_keystore,
        f"{prefix}.ssl.keystore.password": secure.pki.key_password,
        f"{prefix}.ssl.key.password": secure.pki.key_password,
        f"{prefix}.ssl.truststore.type": "PEM",
        f"{prefix}.ssl.truststore.location": secure.pki.ca,
        f"{prefix}.ssl.client.auth": secure.client_auth,
        # Slow down a client that keeps failing to log in (Kafka's own defence, off by default).
        "connection.failed.authentication.delay.ms": 1000,
    }


def find_java() -> str:
    """Return the ``java`` executable to use, checking that it is Java 17 or newer.

    ``$JAVA_HOME/bin/java`` wins over ``java`` on ``PATH``.
    """
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise StackError(
            f"java not found: the Kafka broker needs Java {MIN_JAVA}+. "
            "Install it with deploy/setup.sh (openjdk-17-jre-headless) or set JAVA_HOME."
        )
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"could not run {java} -version: {exc}") from exc
    version = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if version is None:
        raise StackError(f"could not read the Java version from {java} -version:\n{out.stderr}")
    major = int(version[1])
    if major == 1 and version[2] is not None:  # "1.8.0_392" style
        major = int(version[2])
    if major < MIN_JAVA:
        raise StackError(
            f"{java} is Java {major}; the Kafka broker needs Java {MIN_JAVA}+ "
            "(deploy/setup.sh installs openjdk-17-jre-headless)."
        )
    return java


def _lib_dir(lib_dir: Path | None) -> Path:
    lib = lib_dir if lib_dir is not None else deploy_dir() / "kafka" / "lib"
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise StackError(
            f"the Kafka jars are missing from {lib}: run deploy/kafka/fetch.sh "
            "(needs Maven; deploy/setup.sh does it)."
        )
    return lib


def _log4j_config(path: Path | None) -> Path:
    config = path if path is not None else deploy_dir() / "kafka" / "log4j2.properties"
    if not config.is_file():
        raise StackError(f"log4j configuration not found: {config}")
    return config


def launch_kafka(
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    *,
    work_dir: Path | None = None,
    lib_dir: Path | None = None,
    log4j_config: Path | None = None,
    heap: str = "512m",
    secure: SaslSsl | None = None,
) -> KafkaBroker:
    """Format storage and start the broker process, without waiting for it.

    Parameters
    ----------
    port
        Client listener port; ``0`` picks free ports for both listeners.
    controller_port
        Controller listener port; ``None`` means ``port + 1`` (or a free port
        when ``port`` is 0).
    work_dir
        Directory for configuration, log and data; a new temporary directory
        when ``None``.
    lib_dir
        Directory of Kafka jars; ``deploy/kafka/lib`` when ``None``.
    log4j_config
        Log4j 2 configuration; ``deploy/kafka/log4j2.properties`` when ``None``.
    heap
        Maximum JVM heap (``-Xmx``).
    secure
        Adds a SASL_SSL listener with one SCRAM-SHA-512 user (see :class:`SaslSsl`).

    Returns
    -------
    KafkaBroker
        The started broker; call :func:`wait_for_kafka` before using it.
    """
    java = find_java()
    lib = _lib_dir(lib_dir)
    log4j = _log4j_config(log4j_config)
    if port == 0:
        port = free_port()
        controller_port = free_port() if controller_port in (None, 0) else controller_port
        while controller_port == port:
            controller_port = free_port()
    elif controller_port is None:
        controller_port = port + 1
    if secure is not None and secure.port == 0:
        secure = replace(secure, port=free_port())
        while secure.port in (port, controller_port):
            secure = replace(secure, port=free_port())
    ensure_port_free(port, "Kafka")
    ensure_port_free(controller_port, "Kafka controller")
    if secure is not None:
        ensure_port_free(secure.port, "Kafka SASL_SSL")

    work = make_work_dir(work_dir, "midstream-kafka-")
    broker = KafkaBroker(
        pid=0,  # Set once the process runs.
        port=port,
        controller_port=controller_port,
        cluster_id=new_cluster_id(),
        work_dir=work,
        secure_port=secure.port if secure is not None else None,
    )
    broker.properties_path.write_text(
        server_properties(port, controller_port, work / "data", secure=secure))
    broker.properties_path.chmod(0o600)  # it holds the TLS key password
    common = [f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{lib}/*"]
    try:
        _format_storage(java, common, broker, secure)
        pid = _spawn_broker(java, common, broker, heap)
    except BaseException:
        remove_work_dir(work)
        raise
    return replace(broker, pid=pid)


def _spawn_broker(java: str, common: list[str], broker: KafkaBroker, heap: str) -> int:
    return spawn(
        [
            java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            *common,
            "kafka.Kafka",
            str(broker.properties_path),
        ],
        cwd=broker.work_dir,
        log_path=broker.log_path,
    )


def _format_storage(java: str, common: list[str], broker: KafkaBroker,
                    secure: SaslSsl | None) -> None:
    argv = [
        java,
        "-Xmx256m",
        *common,
        "kafka.tools.StorageTool",
        "format",
        # One token: an id starting with '-' (1 in 64 of them) would read as an option.
        f"--cluster-id={broker.cluster_id}",
        "-c",
        str(broker.properties_path),
    ]
    if secure is not None:
        # KRaft keeps SCRAM credentials in its metadata log: the only way to have a user
        # before the first client connects is to write it at format time.
        argv += ["--add-scram",
                 f"{SCRAM_MECHANISM}=[name={secure.username},password={secure.password}]"]
    with open(broker.log_path, "ab") as log:
        try:
            done = subprocess.run(
                argv,
                cwd=broker.work_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError("Kafka storage format timed out after 120 s") from exc
    if done.returncode != 0:
        raise StackError(
            f"Kafka storage format failed (exit {done.returncode}):\n{tail(broker.log_path)}"
        )


def _quiet_admin(brokers: str) -> AdminClient:
    # Connection-refused chatter while the broker boots is expected, not news.
    return make_admin(ClientSettings(brokers), {
        "log_level": 0,
        "error_cb": lambda _err: None,
        "reconnect.backoff.max.ms": 500,
    })


def wait_for_kafka(broker: KafkaBroker, *, timeout: float = 60.0) -> float:
    """Block until the broker serves metadata for its own cluster.

    A TCP connect is not enough: the port opens before the broker has
    registered with its controller. This polls ``AdminClient.list_topics``
    until the cluster lists a broker and reports the expected cluster id.

    Returns
    -------
    float
        Seconds waited.

    Raises
    ------
    StackError
        If the process exits or ``timeout`` passes; the message ends with the
        tail of the broker log.
    """
    start = time.monotonic()
    admin = _quiet_admin(broker.brokers)
    while True:
        if not broker.is_running():
            raise StackError(
                f"Kafka exited during startup ({exit_description(broker.pid)}). "
                f"Last lines of {broker.log_path}:\n{tail(broker.log_path)}"
            )
        try:
            metadata = admin.list_topics(timeout=1.0)
        except KafkaException:
            metadata = None
        if metadata is not None and metadata.brokers and metadata.cluster_id == broker.cluster_id:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise StackError(
                f"Kafka did not become ready on {broker.brokers} within {timeout:.0f} s. "
                f"Last lines of {broker.log_path}:\n{tail(broker.log_path)}"
            )
        time.sleep(0.2)


def stop_kafka(broker: KafkaBroker, *, timeout: float = 30.0, keep_files: bool = False) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after ``timeout``) and delete its directory.

    Parameters
    ----------
    broker
        The broker to stop. A process that is already gone is fine.
    timeout
        Seconds to wait for a clean shutdown before SIGKILL.
    keep_files
        Leave ``work_dir`` (log and data) in place, for inspection.
    """
    terminate(broker.pid, marker=str(broker.work_dir), timeout=timeout)
    if not keep_files:
        remove_work_dir(broker.work_dir)


def restart_kafka(
    broker: KafkaBroker,
    how: signal.Signals = signal.SIGTERM,
    *,
    down_for: float = 0.0,
    lib_dir: Path | None = None,
    log4j_config: Path | None = None,
    heap: str = "512m",
    timeout: float = 60.0,
) -> KafkaBroker:
    """Stop the broker with ``how`` (SIGTERM: a clean shutdown; SIGKILL: a crash), then start it again.

    The new process uses the same ports, configuration and data directory, so
    topics, offsets and SCRAM users survive, as they would for a broker
    restarted in production. Returns the broker with its new PID, once it
    serves metadata again.

    Parameters
    ----------
    broker
        A running broker from :func:`start_kafka`.
    how
        The signal that stops it.
    down_for
        Seconds to stay down before starting again (an outage, not just a blip).
    timeout
        Seconds allowed for the old process to exit and for the new one to be ready.
    """
    if not broker.is_running():
        raise StackError(f"the broker (pid {broker.pid}) is not running")
    os.killpg(broker.pid, how)
    # Waits for the exit (and reaps the process); True means it had to be SIGKILLed.
    if terminate(broker.pid, marker=str(broker.work_dir), timeout=timeout) and how != signal.SIGKILL:
        raise StackError(f"the broker (pid {broker.pid}) ignored {how.name} for {timeout:.0f} s")
    time.sleep(down_for)
    common = [f"-Dlog4j2.configurationFile={_log4j_config(log4j_config)}", "-cp",
              f"{_lib_dir(lib_dir)}/*"]
    restarted = replace(broker, pid=_spawn_broker(find_java(), common, broker, heap))
    try:
        wait_for_kafka(restarted, timeout=timeout)
    except BaseException:
        stop_kafka(restarted, timeout=5.0, keep_files=True)
        raise
    return restarted


def start_kafka(
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    *,
    work_dir: Path | None = None,
    lib_dir: Path | None = None,
    timeout: float = 60.0,
    secure: SaslSsl | None = None,
) -> KafkaBroker:
    """Start a broker and wait until it is ready; see :func:`launch_kafka` for parameters.

    If it does not become ready, the process is stopped and its directory
    removed before the :class:`StackError` (with the log tail) propagates.
    """
    broker = launch_kafka(port, controller_port, work_dir=work_dir, lib_dir=lib_dir,
                          secure=secure)
    try:
        wait_for_kafka(broker, timeout=timeout)
    except BaseException:
        stop_kafka(broker, timeout=5.0)
        raise
    return broker


def create_topics(
    brokers: str,
    names: Iterable[str],
    partitions: int = 1,
    *,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create topics on the local broker, and wait until it serves every partition of each.

    The stack's shorthand for :func:`midstream.connectors.kafka.admin.create_topics`
    (plain bootstrap servers, a :class:`StackError` on failure).

    Parameters
    ----------
    brokers
        Bootstrap servers, e.g. ``"127.0.0.1:19092"``.
    names
        Topic names.
    partitions
        Partition count for new topics.
    config
        Topic-level settings for new topics, e.g. ``{"retention.ms": "600000"}``.
    timeout
        Seconds allowed for creation and for the topics to be served.
    """
    try:
        admin.create_topics(ClientSettings(brokers), names, partitions, config=config,
                            timeout=timeout)
    except TopicSetupError as exc:
        raise StackError(str(exc)) from exc
