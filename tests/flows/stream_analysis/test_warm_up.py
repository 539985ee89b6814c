"""StreamAnalyzer.warm_up: after it, no event compiles a numba kernel (issue 11: a delta
stamped ts = 1e300 cost the job 424 ms, the first-call compile of the series kernels)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# In a fresh process: kernels compiled by earlier tests in this one would hide the compile.
PROBE = """
import sys
import numba.core.dispatcher as dispatcher
from midstream.core import events
from midstream.flows.stream_analysis import StreamAnalyzer

analyzer = StreamAnalyzer.with_defaults()
if sys.argv[1] == "warm":
    analyzer.warm_up()
compiled = []
compile_for_args = dispatcher.Dispatcher._compile_for_args
def spy(self, *args, **kwargs):
    compiled.append(self.py_func.__name__)
    return compile_for_args(self, *args, **kwargs)
dispatcher.Dispatcher._compile_for_args = spy
state = analyzer.new_state("s")
analyzer.on_event(state, events.TokenEvent(v=1, stream_id="s", seq=0, ts=100.0, kind="start"),
                  100.0)
for seq in range(1, 400):
    ts = 1e300 if seq == 150 else 100 + seq * 0.05
    analyzer.on_event(state, events.TokenEvent(v=1, stream_id="s", seq=seq, ts=ts, kind="delta",
                                               text="tok "), 100 + seq * 0.05)
print(",".join(compiled))
"""


def compiles_during_stream(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    return [name for name in done.stdout.strip().split(",") if name]


def test_after_warm_up_a_far_future_delta_compiles_nothing() -> None:
    assert compiles_during_stream("warm") == []


def test_without_warm_up_the_same_stream_compiles_the_series_kernels() -> None:
    # The probe's premise: this stream is one that reaches the kernels.
    assert {"ordinal_summary", "divergence_curve"} <= set(
        compiles_during_stream("cold"))
