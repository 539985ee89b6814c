"""Audit the locked dependencies with pip-audit; keep the report; fail only on a vulnerability.

``make audit`` (and so ``make test``, so CI) runs this after ``make lock`` wrote
deploy/requirements.lock from the installed environment (``pip freeze``, the
project itself left out). The report goes to deploy/pip-audit.txt, which is
committed. A vulnerability fails (exit 1). The vulnerability service being
unreachable, or answering for none of the dependencies, does not fail: CI must
not depend on a flaky network. The output then says clearly that nothing was
audited.

    .venv/bin/python deploy/audit.py [--lock deploy/requirements.lock]
                                     [--report deploy/pip-audit.txt]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def audit(lock: Path, timeout: int) -> tuple[int, str]:
    """Run pip-audit over ``lock``; return ``(exit status, report text)``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", str(lock), "--no-deps", "--disable-pip",
             "-s", "pypi", "--timeout", str(timeout), "--progress-spinner", "off",
             "-f", "json", "-o", str(out)],
            capture_output=True, text=True, check=False)
        raw = out.read_text() if out.exists() else ""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = f"pip-audit -s pypi over {lock.name}, {stamp}"
    if not raw:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return 0, (f"{head}\nNOT AUDITED: the vulnerability service (PyPI) is unreachable: "
                   f"{error}\n")
    deps = json.loads(raw)["dependencies"]
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    audited = len(deps) - len(skipped)
    lines = [head]
    if audited == 0:
        reason = skipped[0]["skip_reason"] if skipped else "-"
        lines.append(f"NOT AUDITED: the vulnerability service (PyPI's per-release JSON) answered "
                     f"for none of the {len(deps)} dependencies (first: {reason})")
    else:
        lines.append(f"{audited} of {len(deps)} dependencies audited, {len(skipped)} skipped, "
                     f"{sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities")
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            lines.append(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} "
                         f"(fixed in {fixes})")
    if audited > 0 and skipped:
        lines += [f"skipped {d['name']} {d.get('version', '')}: {d['skip_reason']}"
                  for d in skipped]
    return (1 if vulnerable else 0), "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Audit, write the report, print it; exit 1 only when a vulnerability is known."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=HERE / "requirements.lock")
    parser.add_argument("--report", type=Path, default=HERE / "pip-audit.txt")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request")
    args = parser.parse_args(argv)
    status, report = audit(args.lock, args.timeout)
    args.report.write_text(report)
    print(report, end="")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
