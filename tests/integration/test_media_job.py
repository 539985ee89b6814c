"""The media path end to end: ffmpeg -> nginx-rtmp -> ``midstream ingest`` -> Kafka -> media job.

Every part is real: ffmpeg publishes a test pattern and a tone (silent from 3 s
to 6 s, frozen from 4 s) to Debian's nginx with the RTMP module; ``midstream
ingest --brokers`` pulls it with PyAV and publishes feature records; the media
job (``python -m bytewax.run midstream.flows.media``) reads them from Kafka and writes
insights back. A garbage record on the features topic lands in the DLQ.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from midstream.core.config import Topics
from midstream.stack import query_until
from midstream.stack.nginx_rtmp import NginxRtmpServer
from tests.integration.jobs import (
    REPO,
    consume_all,
    job_env,
    new_topics,
    produce,
    start_job,
    stop_job,
)
from tests.integration.media_peers import Publisher, fresh_name, start_publisher

DEAD_SECONDS = 3.0
METRICS_PORT = "3030"
"""The port the local Prometheus scrapes (midstream/stack's config)."""


@pytest.fixture(scope="module")
def media_job(kafka_brokers: str) -> Iterator[Topics]:
    """Fresh topics with the media job tailing them."""
    topics = new_topics(kafka_brokers)
    env = job_env(kafka_brokers, topics, MIDSTREAM_STARTING_OFFSET="earliest",
                  BYTEWAX_DATAFLOW_API_ENABLED="1", BYTEWAX_DATAFLOW_API_PORT=METRICS_PORT,
                  MIDSTREAM_MEDIA_DEAD_SECONDS=str(DEAD_SECONDS),
                  MIDSTREAM_MEDIA_WINDOW_SECONDS="2", MIDSTREAM_MEDIA_LONG_SILENCE_SECONDS="2")
    job = start_job(env, flow="midstream.flows.media")
    try:
        yield topics
    finally:
        output = stop_job(job)
        assert "Traceback" not in output, output


def start_ingest(brokers: str, topics: Topics, *pulls: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "midstream.cli.main", "ingest", "--brokers", brokers,
            "--topic", topics.media]
    for pull in pulls:
        argv += ["--pull", pull]
    return subprocess.Popen(argv, cwd=REPO, env=job_env(brokers, topics),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def connections_to(port: int) -> int:
    """Established TCP connections from a client to ``port`` on this host."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                count += remote_port == port and fields[3] == "01"  # 01: ESTABLISHED
    return count


def insights_of(brokers: str, topics: Topics, stream_id: str) -> list[dict[str, Any]]:
    return [r for r in consume_all(brokers, topics.insights, timeout=10)
            if r["stream_id"] == stream_id]


def wait_for_kinds(brokers: str, topics: Topics, stream_id: str, wanted: set[str],
                   timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = insights_of(brokers, topics, stream_id)
        if wanted <= {r["kind"] for r in found}:
            return found
        time.sleep(1.0)
    kinds = sorted({r["kind"] for r in found})
    raise AssertionError(f"{stream_id}: wanted {sorted(wanted)}, got {kinds}")


def test_rtmp_stream_becomes_insights_in_kafka(kafka_brokers: str, media_job: Topics,
                                               nginx_rtmp: NginxRtmpServer,
                                               publishers: list[Publisher],
                                               tmp_path: Path) -> None:
    name = fresh_name("job")
    # The pull joins first and nginx-rtmp holds it until the publisher starts, so it sees
    # the stream from pts 0. A pull that joins a live stream late (the ingest's start-up
    # takes seconds on a busy machine) starts mid-stream: its first window is not the tone.
    clients = connections_to(nginx_rtmp.rtmp_port)
    ingest = start_ingest(kafka_brokers, media_job, f"{name}={nginx_rtmp.stream_url(name)}")
    try:
        deadline = time.monotonic() + 30
        while connections_to(nginx_rtmp.rtmp_port) <= clients:
            assert ingest.poll() is None and time.monotonic() < deadline, "the pull never connected"
            time.sleep(0.05)
        publishers.append(start_publisher(nginx_rtmp.stream_url(name), tmp_path, duration=10.0))
        found = wait_for_kinds(kafka_brokers, media_job, name,
                               {"connected", "long_silence", "freeze", "dropped", "dead"},
                               timeout=60)
    finally:
        ingest.terminate()
        output = ingest.communicate(timeout=20)[0]
    assert "Traceback" not in output, output
    by_kind = {r["kind"]: r for r in found}
    assert 2.5 <= by_kind["long_silence"]["detail"]["since_pts"] <= 3.6  # muted from 3 s
    assert 3.5 <= by_kind["freeze"]["detail"]["since_pts"] <= 4.6  # frozen from 4 s
    assert by_kind["dead"]["severity"] == "error"
    assert by_kind["dead"]["detail"]["silent_for_seconds"] >= DEAD_SECONDS
    windows = [r["detail"] for r in found if r["kind"] == "video_window"]
    assert windows and all(abs(w["fps"] - 25.0) <= 2.5 for w in windows if w["records"] >= 40)
    audio = [r["detail"] for r in found if r["kind"] == "audio_window"]
    assert audio[0]["speech_ratio"] >= 0.9  # the tone, before the silence
    assert any(w["speech_ratio"] <= 0.1 for w in audio)  # the silent stretch
    # Insights are idempotent: each id once, whatever the consumer saw.
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids))


def test_bad_feature_records_go_to_the_dlq_and_the_job_goes_on(kafka_brokers: str,
                                                                media_job: Topics) -> None:
    stream = fresh_name("dlq")
    good = {"v": 1, "stream_id": stream, "seq": 1, "ts": time.time(), "kind": "status",
            "status": "connected", "source": "test"}
    produce(kafka_brokers, media_job.media, [b"\x00garbage\xff", good])
    dead = consume_all(kafka_brokers, media_job.dlq, expect=1, timeout=60)
    assert dead and dead[0]["reason"] == "invalid_json"
    assert dead[0]["source_topic"] == media_job.media
    found = wait_for_kinds(kafka_brokers, media_job, stream, {"connected"}, timeout=60)
    assert found[0]["detail"]["source"] == "test"


def test_media_metrics_reach_prometheus(kafka_brokers: str, media_job: Topics,
                                        prometheus_url: str) -> None:
    stream = fresh_name("metrics")
    now = time.time()
    frames = [{"v": 1, "stream_id": stream, "seq": i, "ts": now + i / 25, "kind": "video",
               "source": "test", "pts": i / 25, "width": 64, "height": 48, "luma": 100.0,
               "motion": 2.0} for i in range(100)]
    produce(kafka_brokers, media_job.media, frames)
    instance = f'instance="127.0.0.1:{METRICS_PORT}"'
    records = query_until(prometheus_url,
                          f'midstream_media_records_total{{{instance},kind="video"}} >= 100',
                          timeout=60)
    assert records
    assert query_until(prometheus_url, f"midstream_media_window_fps_count{{{instance}}} > 0",
                       timeout=30)
    # Labels stay bounded: no stream ids anywhere in the media metrics.
    series = query_until(prometheus_url, f'{{__name__=~"midstream_media_.*",{instance}}}',
                         timeout=30)
    assert not any(stream in str(s["metric"]) for s in series)
