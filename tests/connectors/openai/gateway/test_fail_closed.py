"""Fail closed without a job: redact at once and whole; the gateway, the SDK, the stand-in.

The two leaks with a job that does not answer in time (``--decision-timeout 0``, an
upstream pause in the domain) are in tests/integration/test_gateway_decisions.py.
"""

from __future__ import annotations

import time

import pytest

from tests.connectors.openai.gateway.leaks import LONG_EMAIL, leaked, sdk_text
from tests.connectors.openai.gateway.servers import Servers
from tests.doubles.openai_upstream.http import Script

EXPECTED = "Write to [redacted:email_address] today."


def test_the_email_is_79_characters() -> None:
    assert len(LONG_EMAIL) == 79


@pytest.mark.parametrize("pieces", [
    ("Write to jonathan.alexander.", "smithson@computer-sciences.example",
     "-university-department", ".org", " today."),
    ("Write to jonathan.alexander.smithson@computer-sciences.example-univ",
     "ersity-department.org today."),
    tuple("Write to " + LONG_EMAIL + " today."),   # one character a chunk
])
def test_without_a_job_a_split_email_is_redacted_whole(pieces: tuple[str, ...]) -> None:
    scripts = {"email": Script(pieces=pieces, pacing=0.002)}
    with Servers(scripts, fail_closed=True) as servers:
        text = sdk_text(servers, "email")
    assert leaked(text) == []
    assert text == EXPECTED


def test_without_a_job_fail_closed_redacts_at_once() -> None:
    pieces = ("Write to jane.doe@example.com", " today", ".", " And", " more", ".")
    scripts = {"email": Script(pieces=pieces, pacing=0.01)}
    # A decision timeout far longer than the answer: nothing may wait for it.
    with Servers(scripts, fail_closed=True, decision_timeout=20.0) as servers:
        started = time.monotonic()
        text = sdk_text(servers, "email")
        took = time.monotonic() - started
        assert servers.metric("midstream_gateway_decision_timeouts_total",
                              {"mode": "closed"}) == 0
        assert servers.metric("midstream_gateway_redactions_total",
                              {"route": "chat", "source": "local"}) == 1
    assert text == "Write to [redacted:email_address] today. And more."
    assert took < 10.0, took  # half the decision timeout: a margin for a busy machine
