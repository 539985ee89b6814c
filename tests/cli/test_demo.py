"""The README's first command ends in `midstream demo`: run it as a user would."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from midstream.cli.demo import run_demo
from midstream.stack.process import free_port


def test_demo_command_shows_insights_serves_metrics_and_finishes_by_itself():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "midstream.cli.main", "demo", "--speed", "2", "--metrics-port",
         str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert f"127.0.0.1:{port}/metrics" in process.stdout.readline()
        scraped = ""
        deadline = time.monotonic() + 30
        while "midstream_insights_total{" not in scraped and time.monotonic() < deadline:
            time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                scraped = r.read().decode()
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert "midstream_insights_total{" in scraped
    assert "gen_ai_client_operation_time_to_first_chunk_seconds_bucket" in scraped
    for expected in ["rules/refusal", "regime/periodic", "CONTROL  redact", "health/stall",
                     "health/abandoned", "regime/left_periodic", "regime/chaotic",
                     "lyapunov/chaotic", "Summary", "ABANDONED"]:
        assert expected in rest, expected


def test_demo_result_matches_the_sample_streams(capsys):
    result = run_demo(speed=2.0, metrics_port=0)
    kinds = {(r["stream_id"], r["kind"]) for r in result.insights}
    assert ("abandoned-1", "abandoned") in kinds
    assert ("stalled-1", "summary") in kinds and ("stalled-1", "stall") in kinds
    assert {c["stream_id"] for c in result.controls} == {"loop-1", "pii-1"}
    assert result.dead_letters == []
    assert "Summary" in capsys.readouterr().out
