"""deploy/audit.py: what it audits from PyPI's project JSON, what it says it could not audit.

PyPI is a real service these tests must not depend on, so a local HTTP server
answers in its JSON API's format (``info.version``, ``vulnerabilities``), and
pip-audit is not run (it is, over the real lock, in ``make audit``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

PROJECTS: dict[str, dict[str, Any]] = {
    "safe": {"info": {"version": "2.0"}, "vulnerabilities": []},
    "holey": {"info": {"version": "1.1"}, "vulnerabilities": [
        {"id": "GHSA-xxxx-yyyy-zzzz", "fixed_in": ["1.2"], "withdrawn": None},
        {"id": "PYSEC-0000-1", "fixed_in": [], "withdrawn": "2026-01-01T00:00:00"}]},
    "old": {"info": {"version": "9.0"}, "vulnerabilities": []},
}


@pytest.fixture
def audit_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_audit", REPO / "deploy" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "deploy_audit", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pypi() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")  # pypi/<name>/json
            project = PROJECTS.get(parts[1]) if len(parts) == 3 else None
            body = json.dumps(project).encode()
            self.send_response(200 if project else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if project:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    finally:
        server.shutdown()
        server.server_close()


def test_pins_at_the_latest_release_are_audited_older_ones_are_named(
        audit_module: ModuleType, pypi: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("safe==2.0\nholey==1.1 ; python_version >= '3.11'\nold==1.0\n"
                    "gone==0.1  # not on this index\n")
    monkeypatch.setattr(audit_module, "PYPI", pypi)
    monkeypatch.setattr(audit_module, "run_pip_audit", lambda lock, timeout: (None, "offline"))
    status, report = audit_module.audit(lock, timeout=5)
    assert status == 1  # a known vulnerability fails the run
    assert "2 of 4 dependencies audited" in report and "2 NOT AUDITED" in report
    assert "VULNERABLE holey 1.1: GHSA-xxxx-yyyy-zzzz (fixed in 1.2)" in report
    assert "PYSEC-0000-1" not in report  # withdrawn advisories do not count
    assert "not audited: old 1.0: not the latest release (9.0)" in report
    assert "not audited: gone 0.1: PyPI's project JSON unreachable" in report
    assert "pip-audit gave no results: offline" in report


def test_a_clean_lock_passes(audit_module: ModuleType, pypi: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("safe==2.0\n")
    monkeypatch.setattr(audit_module, "PYPI", pypi)
    monkeypatch.setattr(audit_module, "run_pip_audit", lambda lock, timeout: ([], ""))
    status, report = audit_module.audit(lock, timeout=5)
    assert status == 0 and "1 of 1 dependencies audited" in report
