"""Poison pills through the real broker: the job stays up and the good streams are analysed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import orjson
from confluent_kafka import Producer

from tests.integration.jobs import consume_all, fresh_topics, job_env, start_job, stop_job
from tests.streams import token_stream


def produce_raw(brokers: str, topic: str,
                messages: list[tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]]
                ) -> None:
    producer = Producer({"bootstrap.servers": brokers, "message.max.bytes": 4_000_000})
    for key, value, headers in messages:
        producer.produce(topic, value, key=key, headers=headers or None)
    assert producer.flush(30) == 0


@contextlib.contextmanager
def tailing_job(brokers: str, make_topics, flow: str, *,
                traceback_free: bool = True) -> Iterator:
    """Start ``flow`` tailing fresh topics; on leaving, check it is still up, then stop it."""
    topics = fresh_topics(make_topics, partitions=1)
    job = start_job(job_env(brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest"), flow=flow)
    try:
        yield topics
        assert job.poll() is None, "the job stopped"
    finally:
        output = stop_job(job)
    if traceback_free:
        assert "Traceback" not in output, output


def wait_for(brokers: str, topic: str, wanted: set[tuple[str, str]],
             timeout: float = 60) -> bool:
    """Wait until ``topic`` holds insights of every (stream, kind) in ``wanted``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {(r["stream_id"], r["kind"]) for r in consume_all(brokers, topic, timeout=5)}
        if wanted <= found:
            return True
        time.sleep(0.5)
    return False


def test_poison_messages_neither_stop_the_job_nor_the_good_streams(kafka_brokers, make_topics):
    with tailing_job(kafka_brokers, make_topics, "midstream.flows.llm_stream") as topics:
        now = time.time()
        nested = b"[" * 5000 + b"]" * 5000  # the 10 KB message
        meta_deep = orjson.dumps({"v": 1, "stream_id": "p", "seq": 0, "ts": now,
                                  "kind": "start"})[:-1] + b',"meta":' + nested + b"}"
        huge_ts = orjson.dumps({"v": 1, "stream_id": "far", "seq": 0, "ts": 1e300,
                                "kind": "delta", "text": "x"})
        poison = [
            (b"p", nested, []),
            (None, nested, []),
            (b"p", meta_deep, []),
            (b"\xff\xfe\xfd", b"\xff" * 100, []),
            (b"k" * 200_000, b"{}", []),
            (b"far", huge_ts, [("h" * 1000, b"\xff" * 10_000), ("", b"")]),
            (b"big", b'{"v":1,"stream_id":"big","seq":1' + b"0" * 30
             + b',"ts":1,"kind":"start"}', []),
        ]
        produce_raw(kafka_brokers, topics.tokens, poison)
        good = token_stream("good-1", [" I", "'m", " sorry"], t0=now)
        produce_raw(kafka_brokers, topics.tokens,
                    [(e["stream_id"].encode(), orjson.dumps(e), []) for e in good])
        assert wait_for(kafka_brokers, topics.insights, {("good-1", "apology"),
                                                         ("good-1", "summary")})
        dead = consume_all(kafka_brokers, topics.dlq, expect=6, timeout=30)
        assert sorted(d["reason"] for d in dead) == ["invalid_json", *["schema"] * 5]


def test_a_failing_detector_in_the_real_job_dead_letters_and_the_job_goes_on(kafka_brokers,
                                                                              make_topics):
    # The failure is logged with its traceback: that is the point.
    with tailing_job(kafka_brokers, make_topics, "tests.integration.failing_detector_flow",
                     traceback_free=False) as topics:
        now = time.time()
        bad = token_stream("bad-1", ["boom", " I", "'m", " sorry"], t0=now)
        good = token_stream("good-1", [" I", "'m", " sorry"], t0=now)
        produce_raw(kafka_brokers, topics.tokens,
                    [(e["stream_id"].encode(), orjson.dumps(e), []) for e in bad + good])
        (dead,) = consume_all(kafka_brokers, topics.dlq, expect=1, timeout=60)
        assert (dead["reason"], dead["error"]) == ("analysis_error",
                                                   "ZeroDivisionError in event: injected")
        assert wait_for(kafka_brokers, topics.insights, {
            ("good-1", "apology"), ("good-1", "summary"), ("bad-1", "apology"),
            ("bad-1", "summary")})


def test_poison_records_neither_stop_the_media_job_nor_the_good_streams(kafka_brokers,
                                                                        make_topics):
    with tailing_job(kafka_brokers, make_topics, "midstream.flows.media") as topics:
        big = b"1" + b"0" * 30
        poison = [
            (b"cam", b"[" * 5000 + b"]" * 5000, []),
            (None, b"{" * 5000, []),
            (b"\xff\xfe", b"\xff" * 64, []),
            (b"cam", b'{"v":1,"stream_id":"cam","seq":0,"ts":1,"kind":"label","hook":"h",'
                     b'"label":"l","meta":{"n":' + big + b"}}", [("x", b"\xff" * 1000)]),
            (b"cam", b'{"v":1,"stream_id":"cam","seq":1,"ts":1,"kind":"video","pts":0,'
                     b'"width":' + big + b',"height":2,"luma":1,"motion":0}', []),
        ]
        good = orjson.dumps({"v": 1, "stream_id": "cam-ok", "seq": 0, "ts": time.time(),
                             "kind": "status", "status": "connected", "source": "rtmp"})
        produce_raw(kafka_brokers, topics.media, [*poison, (b"cam-ok", good, [])])
        assert wait_for(kafka_brokers, topics.insights, {("cam-ok", "connected"),
                                                         ("cam", "h/l")})
        dead = consume_all(kafka_brokers, topics.dlq, expect=4, timeout=30)
        assert sorted(d["reason"] for d in dead) == ["invalid_json", "invalid_json", "schema",
                                                     "schema"]
