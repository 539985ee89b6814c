"""Run fuzz targets under atheris (coverage-guided) and report executions, coverage and findings.

Usage::

    python -m fuzz.run                    # every target, 100,000 executions each
    python -m fuzz.run token_event -n 2000
    python -m fuzz.run --seconds 60       # every target, a time budget each

Each target runs in its own process (atheris ends the process when it stops),
from its seed corpus ``fuzz/corpus/<target>/``; libFuzzer's ``-timeout`` makes
a single input slower than ``--hang-seconds`` a hang. New interesting inputs go
to a scratch corpus, so the kept corpus changes only when you copy them over.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


@dataclass
class Report:
    """What one target's run found."""

    target: str
    executions: int
    coverage: int
    features: int
    crashes: int
    hangs: int
    seconds: float
    output: str

    def line(self) -> str:
        """Return the report as one line."""
        return (f"{self.target}: {self.executions} executions, cov {self.coverage}, "
                f"ft {self.features}, crashes {self.crashes}, hangs {self.hangs}, "
                f"{self.seconds:.0f} s")


def run_target(name: str, runs: int, seconds: int, hang_seconds: int = 10,
               findings: Path | None = None) -> Report:
    """Fuzz target ``name`` for ``runs`` executions or ``seconds`` (0: no limit).

    The input of a crash or hang is written to ``findings`` (default: a scratch
    directory's, shown in the output) as ``<target>-crash-<sha1>``.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        prefix = f"{findings or Path(tempfile.gettempdir()) / 'midstream-fuzz'}/{name}-"
        Path(prefix).parent.mkdir(parents=True, exist_ok=True)
        corpus = ROOT / "fuzz" / "corpus" / name
        args = [sys.executable, "-m", "fuzz.run_one", name, scratch, str(corpus),
                f"-runs={runs}", f"-timeout={hang_seconds}", "-rss_limit_mb=4096",
                "-max_len=65536", f"-artifact_prefix={prefix}", "-print_final_stats=1"]
        if seconds:
            args.append(f"-max_total_time={seconds}")
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    executions = sum(int(m.group(1)) for m in _DONE.finditer(output))
    if not executions:
        stat = re.search(r"stat::number_of_executed_units: (\d+)", output)
        executions = int(stat.group(1)) if stat else 0
    coverage = [(int(c), int(f)) for c, f in _COV.findall(output)]
    cov, ft = coverage[-1] if coverage else (0, 0)
    hangs = output.count("ERROR: libFuzzer: timeout")
    crashes = int(done.returncode != 0 and not hangs)
    return Report(name, executions, cov, ft, crashes, hangs, time.monotonic() - started, output)


def main(argv: list[str] | None = None) -> int:
    """Run the targets named (all by default); exit 1 on any crash or hang."""
    from fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets (default: all): {sorted(TARGETS)}")
    parser.add_argument("-n", "--runs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=0, help="time budget per target")
    parser.add_argument("--hang-seconds", type=int, default=10)
    parser.add_argument("-v", "--verbose", action="store_true", help="print atheris's output")
    args = parser.parse_args(argv)
    failed = False
    for name in args.targets or sorted(TARGETS):
        report = run_target(name, args.runs, args.seconds, args.hang_seconds)
        print(report.line(), flush=True)
        if report.crashes or report.hangs or args.verbose:
            failed = failed or bool(report.crashes or report.hangs)
            print(report.output[-6000:], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
