"""The broker restarted mid-run, cleanly (SIGTERM) and by a crash (SIGKILL), under live traffic.

Each test starts a private broker (``midstream.stack.kafka``) so it can stop
and restart it on the same ports and data without touching the shared stack.
While a producer sends token events at a steady rate, the job tails the token
topic, a control follower (the gateway's and relay's) and a media edge
publisher are connected, and the gateway serves a client. Then the broker goes
down for a few seconds and comes back. Everything the producer got
acknowledged must be processed: the job's insights and decisions, by id,
equal a clean run's over exactly the acknowledged events. During the outage
the gateway serves an answer holding an email: no decision can come, so it
fails open, and its metrics say so. The Realtime relay's producer and control
follower, connected before the outage, tap a spoken response after it and stop
it on a control decision.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from midstream.cli.sample_streams import demo_streams
from midstream.connectors.kafka import ClientSettings, make_producer
from midstream.connectors.media.publisher import KafkaRecordPublisher
from midstream.connectors.openai.control import ControlFollower
from midstream.core.config import AnalysisConfig
from midstream.core.events import control
from midstream.core.media_events import MediaRecord
from midstream.stack.exceptions import StackError
from midstream.stack.kafka import KafkaBroker, restart_kafka, start_kafka, stop_kafka
from tests.connectors.openai.gateway.servers import Servers
from tests.doubles.openai_upstream.http import Script
from tests.doubles.openai_upstream.realtime import RealtimeScript
from tests.integration.conftest import unavailable
from tests.integration.jobs import (
    REPO,
    consume_all,
    job_command,
    job_env,
    new_topics,
    produce,
    reference_results,
)
from tests.integration.test_realtime_kafka import WORDS, Relayed, play

QUIET_TIMERS = {"MIDSTREAM_STALL_SECONDS": "1000", "MIDSTREAM_ABANDON_SECONDS": "1000"}
RATE = 400
"""Token events a second from the producer."""
OUTAGE_SECONDS = 3.0
PII_ANSWER = ("Write", " to jane", ".doe@exam", "ple.com", " today.")
DECISION_TIMEOUTS = "midstream_gateway_decision_timeouts_total"


@pytest.fixture
def private_broker() -> Iterator[list[KafkaBroker]]:
    """A broker of the test's own; the list holds its latest incarnation (restarts change the PID)."""
    try:
        broker = start_kafka(port=0)
    except StackError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        unavailable(f"cannot start a Kafka broker: {problem}")
    holder = [broker]
    try:
        yield holder
    finally:
        stop_kafka(holder[-1])


def many_streams(copies: int) -> list[dict[str, Any]]:
    """The demo streams, ``copies`` times over with distinct ids, interleaved by time."""
    events: list[dict[str, Any]] = []
    for i in range(copies):
        for event in demo_streams(t0=1_000_000.0 + i):
            events.append({**event, "stream_id": f"{event['stream_id']}-{i}"})
    return sorted(events, key=lambda e: (e["ts"], e["stream_id"], e["seq"]))


class SteadyProducer(threading.Thread):
    """Sends events at ``rate`` a second and remembers which ones Kafka acknowledged."""

    def __init__(self, brokers: str, topic: str, events: list[dict[str, Any]],
                 rate: float = RATE) -> None:
        super().__init__(daemon=True)
        self.rate = rate
        self.sent = 0
        self.producer = make_producer(ClientSettings(brokers), {
            "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 120_000})
        self.topic = topic
        self.events = events
        self.acked: set[int] = set()
        self.failed = 0

    def _delivered(self, index: int) -> Any:
        def report(error: Any, _message: Any) -> None:
            if error is None:
                self.acked.add(index)
            else:
                self.failed += 1
        return report

    def run(self) -> None:
        start = time.monotonic()
        for index, event in enumerate(self.events):
            pause = start + index / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.producer.produce(self.topic, orjson.dumps(event),
                                  key=event["stream_id"].encode(),
                                  on_delivery=self._delivered(index))
            self.producer.poll(0)
            self.sent = index + 1
        self.producer.flush(120)


def start_logged_job(env: dict[str, str], log: Path, *bytewax_args: str
                     ) -> subprocess.Popen[bytes]:
    """Start the job with its output in a file.

    Not a pipe read only at the end: during an outage librdkafka logs every failed
    reconnect, a 64 KB pipe fills, and its threads block in ``fprintf``, which
    stalls the job (seen here, and it would look like a failed reconnect).
    """
    with open(log, "wb") as out:
        return subprocess.Popen(job_command(*bytewax_args), env=env, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)


def stop_logged_job(job: subprocess.Popen[bytes], log: Path) -> str:
    if job.poll() is None:
        job.terminate()
        try:
            job.wait(timeout=30)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
    return log.read_text(errors="replace")


class RelayAcrossRestart(threading.Thread):
    """The Realtime relay with its own Kafka clients, connected before the outage.

    Once :attr:`restarted` is set, it waits until its control follower delivers
    again, then plays a spoken response that a control ``stop`` cancels mid-way.
    """

    def __init__(self, brokers: str, topics: Any) -> None:
        super().__init__(daemon=True)
        self.brokers = brokers
        self.topics = topics
        self.connected = threading.Event()
        self.restarted = threading.Event()
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._scenario())
        except BaseException as exc:  # reported by the test's thread
            self.error = exc

    async def _scenario(self) -> None:
        script = RealtimeScript(pieces=WORDS, pace=0.03)
        async with Relayed(self.brokers, self.topics, script) as relayed:
            self.connected.set()
            await asyncio.to_thread(self.restarted.wait, 180)
            probes: list[dict[str, Any]] = []
            relayed.follower.register("relay-probe", probes.append)
            await asyncio.to_thread(produce, self.brokers, self.topics.control, [
                msgspec.to_builtins(control(stream_id="relay-probe", ts=1.0, action="stop",
                                            reason="test", at_seq=1))])
            assert await asyncio.to_thread(wait_for, lambda: probes, 60), \
                "the relay's control follower did not reconnect"
            self.events, _ = await play(relayed, False, 5)


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_everything_acknowledged_is_processed_across_a_broker_restart(
        private_broker: list[KafkaBroker], how: signal.Signals, tmp_path: Path) -> None:
    broker = private_broker[-1]
    brokers = broker.brokers
    topics = new_topics(brokers, partitions=2)
    events = many_streams(10)  # ~10,500 events: about 26 s at RATE
    log = tmp_path / "job.log"
    job = start_logged_job(job_env(brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest",
                                   **QUIET_TIMERS), log)
    follower = ControlFollower(ClientSettings(brokers), topics.control)
    decisions: list[dict[str, Any]] = []
    follower.register("after-restart", decisions.append)
    follower.start()
    edge = KafkaRecordPublisher(ClientSettings(brokers), topics.media)
    sender = SteadyProducer(brokers, topics.tokens, events)
    relay = RelayAcrossRestart(brokers, topics)
    try:
        assert follower.ready.wait(30)
        relay.start()
        assert relay.connected.wait(60), relay.error
        sender.start()
        time.sleep(8)  # the job is busy with live traffic
        with Servers({"plain": Script(pieces=("Hello", ",", " world")),
                      "pii": Script(pieces=PII_ANSWER)}, topics=topics,
                     brokers=brokers, decision_timeout=0.2) as gateway:
            restarter = threading.Thread(target=lambda: private_broker.append(
                restart_kafka(broker, how, down_for=OUTAGE_SECONDS, timeout=90)))
            restarter.start()
            assert wait_for(lambda: not broker.is_running(), 90)
            # The broker is away: the email waits for a decision that cannot come, and
            # goes out unchanged after the decision timeout (fail open), counted as such.
            during = gateway.client().chat.completions.create(
                model="pii", messages=[{"role": "user", "content": "hi"}], stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in during
                           if c.choices) == "".join(PII_ANSWER)
            assert gateway.registry.get_sample_value(DECISION_TIMEOUTS, {"mode": "open"}) == 1
            restarter.join(120)
            assert not restarter.is_alive() and private_broker[-1] is not broker
            relay.restarted.set()
            # (The gateway's tap producer queued its events while the broker was away.)
            reply = gateway.client().chat.completions.create(
                model="plain", messages=[{"role": "user", "content": "hi"}], stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in reply
                           if c.choices) == "Hello, world"
        # The follower and the media edge reconnected by themselves.
        produce(brokers, topics.control, [msgspec.to_builtins(control(
            stream_id="after-restart", ts=1.0, action="stop", reason="test", at_seq=1))])
        assert wait_for(lambda: decisions, 60), "no decision through the reconnected follower"
        edge(MediaRecord(v=1, stream_id="cam-after", seq=0, ts=1.0, kind="video", fps=25.0))
        assert edge.flush(60) == 0
        # The relay's follower delivered a stop, which cancelled the spoken response.
        relay.join(120)
        assert relay.error is None, relay.error
        done = next(e for e in relay.events if e["type"] == "response.done")
        assert done["response"]["status"] == "cancelled"
        sender.join(timeout=180)
        assert not sender.is_alive()
        acked = [events[i] for i in sorted(sender.acked)]
        assert len(acked) == len(events) and sender.failed == 0
        expected = reference_results(acked, AnalysisConfig(stall_seconds=1000,
                                                           abandon_seconds=1000))
        # A tailing job never reaches the end of input, where the reference closes the
        # stream without an end event as abandoned.
        expected = {k: v for k, v in expected.items() if v.get("kind") != "abandoned"}
        got: dict[str, Any] = {}
        produced = {e["stream_id"] for e in events}

        def caught_up() -> bool:
            got.clear()
            for record in (consume_all(brokers, topics.insights)
                           + consume_all(brokers, topics.control)):
                if record["stream_id"] in produced:  # not the gateway's or the test's own
                    got[record["id"]] = record
            return len(got) >= len(expected)

        wait_for(caught_up, 120)
    finally:
        follower.stop()
        output = stop_logged_job(job, log)
    assert job.returncode in (0, -signal.SIGTERM), output[-3000:]
    # At-least-once output: each id once in the comparison, each with the clean run's record.
    missing = sorted(set(expected) - set(got))
    assert not missing, (len(missing), missing[:10], output[-3000:])
    assert got == expected
    media = consume_all(brokers, topics.media)
    assert [r["stream_id"] for r in media] == ["cam-after"]
    # The relay's producer tapped the response it relayed after the restart.
    tapped = [r for r in consume_all(brokers, topics.tokens)
              if r["stream_id"].startswith("realtime-")]
    assert [r["kind"] for r in tapped][:2] == ["start", "delta"], tapped[:3]
    assert tapped[-1]["kind"] == "end" and tapped[-1]["meta"]["finish_reason"] == "cancelled"
    assert "Traceback" not in output, output[-3000:]
