"""Audit the locked dependencies for known vulnerabilities; keep the report; fail only on one.

``make audit`` (and so ``make test``, so CI) runs this after ``make lock`` wrote
deploy/requirements.lock from the installed environment (``pip freeze``, the
project itself left out). The report goes to deploy/pip-audit.txt, which is
committed. A known vulnerability fails (exit 1).

Two sources, both PyPI's (which takes its advisories from the PyPA advisory
database and OSV):

1. ``pip-audit -s pypi``, which asks PyPI's per-release JSON
   (``/pypi/<name>/<version>/json``) about each pinned version.
2. For every dependency pip-audit could not audit: the project JSON
   (``/pypi/<name>/json``), whose ``vulnerabilities`` are those of the latest
   release. A pin that *is* the latest release is audited from it; an older
   pin is listed as not audited, with the latest version.

On the machines this project is built on, PyPI's mirror serves the project
JSON but answers 404 for every per-release JSON, so only the second source
works there, and only for pins at the latest release. The report says so, per
dependency. A source being unreachable does not fail the run (CI must not
depend on a flaky network); the report then says clearly what was not audited.

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
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYPI = "https://pypi.org/pypi"


@dataclass
class Finding:
    """What is known of one locked dependency."""

    name: str
    version: str
    source: str | None = None
    """``pip-audit``, ``latest release`` (project JSON), or None: not audited."""
    vulns: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def run_pip_audit(lock: Path, timeout: int) -> tuple[list[dict[str, Any]] | None, str]:
    """pip-audit's per-dependency JSON results, or None and why."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", str(lock), "--no-deps", "--disable-pip",
             "-s", "pypi", "--timeout", str(timeout), "--progress-spinner", "off",
             "-f", "json", "-o", str(out)],
            capture_output=True, text=True, check=False)
        raw = out.read_text() if out.exists() else ""
    if not raw:
        return None, (done.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(raw)["dependencies"], ""


def locked(lock: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of every ``name==version`` line of the lock file."""
    pins = []
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((name.strip(), version.split(";", 1)[0].strip()))
    return pins


def from_latest_release(name: str, version: str, timeout: int) -> Finding:
    """Audit one pin from PyPI's project JSON: possible only when it is the latest release."""
    try:
        with urllib.request.urlopen(f"{PYPI}/{name}/json", timeout=timeout) as response:
            project = json.load(response)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return Finding(name, version, note=f"PyPI's project JSON unreachable: {exc}")
    latest = project.get("info", {}).get("version", "")
    if latest != version:
        return Finding(name, version, note=f"not the latest release ({latest}); PyPI's "
                                           "per-release JSON is not served here")
    vulns = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return Finding(name, version, "latest release", vulns)


def audit(lock: Path, timeout: int) -> tuple[int, str]:
    """Audit ``lock``; return ``(exit status, report text)``."""
    findings: dict[str, Finding] = {}
    deps, error = run_pip_audit(lock, timeout)
    for dep in deps or []:
        if "skip_reason" not in dep:
            findings[dep["name"].lower()] = Finding(dep["name"], dep["version"], "pip-audit",
                                                    dep.get("vulns", []))
    rest = [(n, v) for n, v in locked(lock) if n.lower() not in findings]
    with ThreadPoolExecutor(8) as pool:
        for finding in pool.map(lambda pin: from_latest_release(pin[0], pin[1], timeout), rest):
            findings[finding.name.lower()] = finding
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    ordered = sorted(findings.values(), key=lambda f: f.name.lower())
    by_pip = sum(f.source == "pip-audit" for f in ordered)
    by_latest = sum(f.source == "latest release" for f in ordered)
    missing = [f for f in ordered if f.source is None]
    vulnerable = [f for f in ordered if f.vulns]
    lines = [f"vulnerability audit of {lock.name}, {stamp}",
             f"{by_pip + by_latest} of {len(ordered)} dependencies audited ({by_pip} by pip-audit "
             f"-s pypi, {by_latest} from PyPI's project JSON as the latest release), "
             f"{len(missing)} NOT AUDITED, {sum(len(f.vulns) for f in vulnerable)} known "
             "vulnerabilities"]
    if error:
        lines.append(f"pip-audit gave no results: {error}")
    for finding in vulnerable:
        for vuln in finding.vulns:
            fixes = ", ".join(vuln.get("fix_versions") or vuln.get("fixed_in") or []) or "no fix"
            lines.append(f"VULNERABLE {finding.name} {finding.version}: {vuln.get('id')} "
                         f"(fixed in {fixes})")
    lines += [f"not audited: {f.name} {f.version}: {f.note}" for f in missing]
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
