"""The LLM-stream job end to end through the real Kafka broker."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time

import orjson

from midstream.cli.sample_streams import demo_streams
from midstream.stack.process import free_port
from tests.integration.jobs import (
    consume_all,
    fresh_topics,
    job_env,
    produce,
    reference_results,
    run_job,
    start_job,
    stop_job,
)
from tests.streams import token_stream


def by_id(records):
    return {r["id"]: r for r in records}


def test_job_reads_kafka_and_writes_the_same_insights_and_controls(kafka_brokers, make_topics):
    topics = fresh_topics(make_topics, partitions=2)
    events = demo_streams(t0=1_000_000.0)
    produce(kafka_brokers, topics.tokens, events)
    run_job(job_env(kafka_brokers, topics))
    got = by_id(consume_all(kafka_brokers, topics.insights)
                + consume_all(kafka_brokers, topics.control))
    assert got == reference_results(events)
    assert consume_all(kafka_brokers, topics.dlq) == []


def test_kcat_as_an_independent_producer(kafka_brokers, make_topics, kcat):
    topics = fresh_topics(make_topics, partitions=1)
    events = token_stream("kcat-1", [" I", "'m", " sorry", ",", " I", " can", "'t", " help",
                                      " with", " that"])
    lines = "".join(f"kcat-1\t{orjson.dumps(e).decode()}\n" for e in events)
    subprocess.run([kcat, "-b", kafka_brokers, "-P", "-t", topics.tokens, "-K", "\t"],
                   input=lines, text=True, check=True, timeout=30)
    run_job(job_env(kafka_brokers, topics))
    kinds = {r["kind"] for r in consume_all(kafka_brokers, topics.insights)}
    assert kinds == {"apology", "refusal", "summary"}
    # ...and kcat reads back what the job wrote.
    read = subprocess.run([kcat, "-b", kafka_brokers, "-C", "-t", topics.insights, "-e", "-q"],
                          capture_output=True, text=True, check=True, timeout=30)
    assert len(read.stdout.strip().splitlines()) == 3


def test_bad_input_lands_in_the_dead_letter_topic_and_nothing_is_lost(kafka_brokers,
                                                                      make_topics):
    topics = fresh_topics(make_topics, partitions=1)
    good = token_stream("good-1", [" all", " fine", " here"])
    bad = [
        b"{malformed json",
        orjson.dumps({**good[1], "v": 9}),
        orjson.dumps({"v": 1, "stream_id": "x", "kind": "delta"}),
        orjson.dumps({**good[1], "text": "x" * 1_000_000}),
        bytes(range(256)) * 4,
        b"",
    ]
    produce(kafka_brokers, topics.tokens, [good[0], *bad, *good[1:]])
    run_job(job_env(kafka_brokers, topics))
    dead = consume_all(kafka_brokers, topics.dlq, expect=len(bad))
    assert [d["reason"] for d in dead] == ["invalid_json", "unsupported_version", "schema",
                                           "oversize", "invalid_json", "invalid_json"]
    assert [d["offset"] for d in dead] == [1, 2, 3, 4, 5, 6]
    assert all(d["source_topic"] == topics.tokens and d["partition"] == 0 for d in dead)
    for letter, original in zip(dead, bad, strict=True):
        kept = base64.b64decode(letter["payload_b64"])
        assert letter["payload_bytes"] == len(original)
        if letter["payload_truncated"]:  # the 1 MB one: a prefix, its hash, and its offset
            assert original.startswith(kept) and len(kept) == 256 * 1024
            assert letter["payload_sha256"] == hashlib.sha256(original).hexdigest()
        else:
            assert kept == original
    assert [d["payload_truncated"] for d in dead] == [False, False, False, True, False, False]
    assert [r["kind"] for r in consume_all(kafka_brokers, topics.insights)] == ["summary"]


def test_two_processes_give_the_same_insights_as_one_worker(kafka_brokers, make_topics,
                                                            tmp_path):
    events = []
    for i in range(6):
        events += demo_streams(t0=1_000_000.0 + i)
        for e in events[-len(demo_streams()):]:
            e["stream_id"] = f"{e['stream_id']}-{i}"
    one = fresh_topics(make_topics, partitions=4)
    produce(kafka_brokers, one.tokens, events)
    run_job(job_env(kafka_brokers, one))
    single = by_id(consume_all(kafka_brokers, one.insights)
                   + consume_all(kafka_brokers, one.control))

    two = fresh_topics(make_topics, partitions=4)
    produce(kafka_brokers, two.tokens, events)
    env = job_env(kafka_brokers, two, MIDSTREAM_TAIL="false")
    ports = [free_port(), free_port()]
    addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
    processes = [start_job(env, "-i", str(i), "-a", addresses) for i in range(2)]
    for process in processes:
        process.wait(timeout=120)
    outputs = [stop_job(p) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    double = by_id(consume_all(kafka_brokers, two.insights)
                   + consume_all(kafka_brokers, two.control))
    assert len(single) > 50
    assert double == single


def test_decisions_arrive_while_the_stream_is_live_and_abandoned_fires_without_input(
    kafka_brokers, make_topics
):
    topics = fresh_topics(make_topics, partitions=1)
    env = job_env(kafka_brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest",
                  MIDSTREAM_ABANDON_SECONDS="2", MIDSTREAM_STALL_SECONDS="1")
    job = start_job(env)
    try:
        now = time.time()
        loop = token_stream("live-loop", [" again", " and"] * 20, t0=now)
        produce(kafka_brokers, topics.tokens, loop[:-1])  # no end event: it will be abandoned
        (stop,) = consume_all(kafka_brokers, topics.control, expect=1, timeout=60)
        assert stop["action"] == "stop" and stop["stream_id"] == "live-loop"
        insights = consume_all(kafka_brokers, topics.insights, expect=3, timeout=30)
        assert [r["kind"] for r in insights] == ["periodic", "stall", "abandoned"]
    finally:
        output = stop_job(job)
    assert "Traceback" not in output, output


