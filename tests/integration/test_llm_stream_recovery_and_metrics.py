"""The job against Kafka with Bytewax recovery, and its metrics scraped by a real Prometheus."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from midstream.cli.sample_streams import demo_streams
from midstream.core.config import AnalysisConfig
from midstream.stack import query, query_until
from tests.integration.jobs import (
    REPO,
    consume_all,
    fresh_topics,
    job_env,
    produce,
    reference_results,
    run_job,
    start_job,
    stop_job,
)

# Timers far beyond the test's length: the restart must not look like a stall.
QUIET_TIMERS = {"MIDSTREAM_STALL_SECONDS": "1000", "MIDSTREAM_ABANDON_SECONDS": "1000"}


def test_a_crashed_job_resumes_from_its_recovery_snapshots(kafka_brokers, make_topics, tmp_path):
    topics = fresh_topics(make_topics, partitions=2)
    events = demo_streams(t0=1_000_000.0)
    half = len(events) // 2
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True,
                   cwd=REPO, timeout=60)
    env = job_env(kafka_brokers, topics, **QUIET_TIMERS)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")

    produce(kafka_brokers, topics.tokens, events[:half])
    job = start_job(env, *args)
    try:
        first = consume_all(kafka_brokers, topics.insights, expect=3, timeout=60)
        assert len(first) >= 3
        time.sleep(3)  # let at least two snapshots land after those outputs
    finally:
        job.send_signal(signal.SIGKILL)  # a crash, not a clean stop
        stop_job(job)

    produce(kafka_brokers, topics.tokens, events[half:])
    # "latest" would skip everything already in the topic: only the recovered offsets (and the
    # recovered per-stream state, or the summaries would differ) can give the expected result.
    run_job({**env, "MIDSTREAM_STARTING_OFFSET": "latest"}, *args)
    records = consume_all(kafka_brokers, topics.insights) + consume_all(kafka_brokers,
                                                                        topics.control)
    expected = reference_results(
        events, AnalysisConfig(stall_seconds=1000, abandon_seconds=1000))
    # At-least-once output: repeats are allowed, but each id carries the same record.
    assert {r["id"] for r in records} == set(expected)
    for record in records:
        assert record == expected[record["id"]]


def test_job_metrics_reach_prometheus(kafka_brokers, make_topics, prometheus_url):
    topics = fresh_topics(make_topics, partitions=1)
    if query(prometheus_url, 'up{instance="127.0.0.1:3030"} == 1'):
        pytest.fail("something already serves metrics on 127.0.0.1:3030")
    env = job_env(kafka_brokers, topics, BYTEWAX_DATAFLOW_API_ENABLED="1",
                  BYTEWAX_DATAFLOW_API_PORT="3030", **QUIET_TIMERS)
    job = start_job(env)
    try:
        produce(kafka_brokers, topics.tokens, demo_streams(t0=time.time()))
        # Each kind on its own: a scrape can land between two streams' insights, so the first
        # non-empty answer need not hold them all yet (a busy CI machine showed that).
        for kind in ("refusal", "periodic", "summary"):
            assert query_until(
                prometheus_url,
                f'midstream_insights_total{{instance="127.0.0.1:3030",kind="{kind}"}} > 0',
                timeout=60)
        ttft = query_until(
            prometheus_url,
            'gen_ai_client_operation_time_to_first_chunk_seconds_count{instance="127.0.0.1:3030"}',
            timeout=30)
        assert sum(float(s["value"][1]) for s in ttft) >= 7
        # Bytewax's own metrics share the endpoint.
        assert query_until(prometheus_url, 'bytewax_kafka_consumer_lag{instance="127.0.0.1:3030"}',
                           timeout=30)
    finally:
        output = stop_job(job)
    assert "Traceback" not in output, output


def test_a_taken_metrics_port_costs_the_metrics_not_the_job(kafka_brokers, make_topics):
    topics = fresh_topics(make_topics, partitions=1)
    events = demo_streams(t0=1_000_000.0)
    produce(kafka_brokers, topics.tokens, events)
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))  # Bytewax binds the API on every interface
        squatter.listen()
        port = squatter.getsockname()[1]
        output = run_job(job_env(kafka_brokers, topics, BYTEWAX_DATAFLOW_API_ENABLED="1",
                                 BYTEWAX_DATAFLOW_API_PORT=str(port)))
    # Bytewax's web server thread panics with this line; the dataflow carries on to the end.
    assert f"error binding to 0.0.0.0:{port}" in output and "Address already in use" in output
    records = consume_all(kafka_brokers, topics.insights) + consume_all(kafka_brokers,
                                                                        topics.control)
    assert {r["id"]: r for r in records} == reference_results(events)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs of the test's own, so the recovery directory can really fill up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_recovery_disk_stops_the_job_and_a_restart_loses_nothing(
        kafka_brokers, make_topics, small_disk):
    topics = fresh_topics(make_topics, partitions=2)
    events = demo_streams(t0=1_000_000.0)
    half = len(events) // 2
    recovery = small_disk / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True,
                   cwd=REPO, timeout=60)
    env = job_env(kafka_brokers, topics, **QUIET_TIMERS)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    produce(kafka_brokers, topics.tokens, events[:half])
    job = start_job(env, *args)
    filler = small_disk / "filler"
    try:
        assert len(consume_all(kafka_brokers, topics.insights, expect=3, timeout=60)) >= 3
        with open(filler, "wb") as f, contextlib.suppress(OSError):  # ENOSPC ends it
            while True:
                f.write(b"\0" * 65536)
        job.wait(timeout=60)
    finally:
        output = stop_job(job)
    # Bytewax 0.21.1 unwraps the failed snapshot write (src/recovery.rs): the job exits.
    assert job.returncode == 1, output[-3000:]
    assert "database or disk is full" in output
    filler.unlink()
    produce(kafka_brokers, topics.tokens, events[half:])
    # Restarted on the same recovery directory (as a supervisor would), from the last
    # snapshot that was written: nothing is lost, repeats carry the same records.
    run_job({**env, "MIDSTREAM_STARTING_OFFSET": "latest"}, *args)
    records = consume_all(kafka_brokers, topics.insights) + consume_all(kafka_brokers,
                                                                        topics.control)
    expected = reference_results(
        events, AnalysisConfig(stall_seconds=1000, abandon_seconds=1000))
    assert {r["id"] for r in records} == set(expected)
    for record in records:
        assert record == expected[record["id"]]


@pytest.mark.parametrize(("rate", "copies", "kill_after"), [
    (400, 10, 12.0),        # ~26 s of a slow, steady producer
    (10_000, 100, 5.0),     # 105,200 events at 10,000 a second: the kill comes at full load
], ids=["400_per_s", "10k_per_s"])
def test_a_job_killed_under_a_steady_producer_resumes_and_loses_nothing(
        kafka_brokers, make_topics, tmp_path, rate, copies, kill_after):
    from tests.integration.test_broker_faults import (
        SteadyProducer,
        many_streams,
        start_logged_job,
        stop_logged_job,
        wait_for,
    )

    topics = fresh_topics(make_topics, partitions=2)
    events = many_streams(copies)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True,
                   cwd=REPO, timeout=60)
    env = job_env(kafka_brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest", **QUIET_TIMERS)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    sender = SteadyProducer(kafka_brokers, topics.tokens, events, rate=rate)
    first = start_logged_job(env, tmp_path / "first.log", *args)
    sender.start()
    try:
        started = time.monotonic()
        time.sleep(kill_after)  # the kill comes mid-stream, with the producer still sending
        sent, elapsed = sender.sent, time.monotonic() - started
        assert sender.is_alive()
        assert sent >= 0.5 * rate * elapsed, f"the producer fell behind: {sent} in {elapsed:.1f} s"
        assert consume_all(kafka_brokers, topics.insights)  # the job was working
    finally:
        first.send_signal(signal.SIGKILL)
        stop_logged_job(first, tmp_path / "first.log")
    # "latest" would skip what was sent meanwhile: only the recovered offsets can give it all.
    second = start_logged_job({**env, "MIDSTREAM_STARTING_OFFSET": "latest"},
                              tmp_path / "second.log", *args)
    expected = reference_results(events, AnalysisConfig(stall_seconds=1000,
                                                        abandon_seconds=1000))
    expected = {k: v for k, v in expected.items() if v.get("kind") != "abandoned"}
    records: list = []

    def caught_up() -> bool:
        records[:] = (consume_all(kafka_brokers, topics.insights)
                      + consume_all(kafka_brokers, topics.control))
        return {r["id"] for r in records} >= set(expected)

    try:
        sender.join(timeout=120)
        assert len(sender.acked) == len(events)
        wait_for(caught_up, 180)
    finally:
        output = stop_logged_job(second, tmp_path / "second.log")
    assert {r["id"] for r in records} == set(expected), output[-2000:]
    for record in records:  # at-least-once: repeats carry the same record
        assert record == expected[record["id"]]
