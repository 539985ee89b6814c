"""A short soak of the job with recovery on, plus gateway streams; and `midstream run`'s recovery.

The full soak is ``python -m bench.soak`` (10 minutes at 10,000 events/s); this is
the same harness for 40 s at 1,000 events/s with 25 gateway streams, with bounds
wide enough for a busy 2-core machine but far below what a leak, a job that
falls behind or a stuck gateway would show.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.soak import run_soak
from midstream.core.config import AnalysisConfig
from midstream.flows.shards import shard_key
from tests.integration.jobs import REPO, consume_all, job_env, new_topics, produce
from tests.streams import token_stream


def test_short_soak_keeps_memory_lag_and_decision_latency_flat(kafka_brokers: str,
                                                              tmp_path: Path) -> None:
    # Half of what one worker handles with a core taken by another process (at 2,000
    # events/s, stress-ng beside CI made it fall 8 s behind and catch up).
    rate, seconds = 1000, 40.0
    result = run_soak(kafka_brokers, rate=rate, seconds=seconds, gateway_streams=25,
                      sample_every=1.0, warm_up=0.5, log=tmp_path / "job.log")

    assert result.offered >= rate * seconds
    assert result.gateway_streams_failed == 0
    assert result.gateway_streams_done >= 25
    # A leak of 1 kB per event would be about 60 MB/min at this rate.
    rss_slope = result.fit("rss_mb")
    assert rss_slope < 30, f"job RSS grows {rss_slope:.1f} MB/min"
    # The job keeps up: the lag stays within a few seconds of input and does not climb.
    lag = result.lag_after(result.fit_from)
    assert lag, "the job reported no bytewax_kafka_consumer_lag"
    assert max(lag) < 5 * rate, f"lag up to {max(lag):.0f} messages"
    assert result.fit("lag") < rate, f"lag grows {result.fit('lag'):.0f} messages/min"
    # Decisions keep coming, fast, in every window of the second half.
    windows = [w for w in result.window_p99s(5.0) if w[0] >= result.fit_from]
    assert len(windows) >= 3 and all(n > 0 for _, _, n in windows)
    assert max(p99 for _, p99, _ in windows) < 2000, windows
    assert float(np.median([p99 for _, p99, _ in windows])) < 500, windows


def _snapshot_rows(directory: Path) -> int:
    with sqlite3.connect(directory / "part-0.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM snaps").fetchone()[0])


def test_midstream_run_uses_recovery_by_default(kafka_brokers: str, tmp_path: Path) -> None:
    topics = new_topics(kafka_brokers)
    root = tmp_path / "state"
    env = job_env(kafka_brokers, topics, MIDSTREAM_RECOVERY_DIR=str(root),
                  MIDSTREAM_ABANDON_SECONDS="3600")
    command = [sys.executable, "-m", "midstream.cli.main", "run", "--metrics-port", "0",
               "-s", "1", "-b", "5"]
    log = (tmp_path / "job.log").open("w")
    job = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        produce(kafka_brokers, topics.tokens,
                token_stream("kept-open", ["Hello", " there"], end=False))
        directory = root / "llm"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (directory / "part-0.sqlite3").exists() and _snapshot_rows(directory):
                break
            time.sleep(0.5)
        # The open stream's state is among the snapshots, in its shard's.
        with sqlite3.connect(directory / "part-0.sqlite3") as db:
            keys = {row[0] for row in db.execute("SELECT state_key FROM snaps")}
        assert shard_key("kept-open", AnalysisConfig().state_shards) in keys, (
            keys, (tmp_path / "job.log").read_text())
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(30)
        log.close()

    # Restarted on the same directory from the end of the topic ("latest"), the job can only
    # know the stream's two deltas from its recovered state.
    restarted = subprocess.Popen(command, env={**env, "MIDSTREAM_STARTING_OFFSET": "latest"},
                                 cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # the restarted job has resumed before the end arrives
        produce(kafka_brokers, topics.tokens, token_stream("kept-open", ["Hello", " there"])[-1:])
        insights = consume_all(kafka_brokers, topics.insights, expect=1, timeout=60)
    finally:
        restarted.terminate()
        restarted.wait(30)
    summaries = [i for i in insights if i["stream_id"] == "kept-open" and i["kind"] == "summary"]
    assert summaries, insights
    assert summaries[-1]["detail"]["tokens"] == 2, summaries[-1]
