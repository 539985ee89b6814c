"""RedactionBuffer: minimal hold-back, decisions, timeouts, with the bundled redaction rules."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.connectors.openai.gateway.redaction import RedactionBuffer
from midstream.core.config import BUNDLED_RULES
from midstream.core.rules_file import load_rules
from midstream.operators.holdback import HoldBack

HOLDBACK = HoldBack(load_rules(BUNDLED_RULES))
TEXT = ("Sure. Write to jane.doe@example.com or call 415-555-0100; the card 4111 1111 1111 "
        "1111 is on file. Thanks!")
PII = ("jane.doe@example.com", "415-555-0100", "4111 1111 1111 1111")


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in pairwise(points)]


def _run(pieces: list[str], fail_closed: bool) -> str:
    buffer = RedactionBuffer(HOLDBACK)
    out = []
    for piece in pieces:
        out.append(buffer.feed(piece))
        if buffer.pending_match() and fail_closed:
            out.append(buffer.expire(True))
    out.append(buffer.finish())
    while buffer.pending_match():
        out.append(buffer.expire(fail_closed))
    assert buffer.held == 0
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=30))
def test_fail_closed_never_releases_pii_however_the_text_is_split(cuts: list[int]) -> None:
    out = _run(_split(TEXT, cuts), fail_closed=True)
    for pii in PII:
        assert pii not in out
    assert "[redacted:email_address]" in out and "[redacted:payment_card]" in out
    assert out.startswith("Sure. Write to ") and out.endswith(" is on file. Thanks!")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=30))
def test_fail_open_releases_everything_unchanged(cuts: list[int]) -> None:
    assert _run(_split(TEXT, cuts), fail_closed=False) == TEXT


def test_plain_prose_is_held_at_most_one_word() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    assert buffer.feed("The weather is ") == "The weather is "
    assert buffer.feed("fine tod") == "fine "
    assert buffer.held == len("tod")
    assert buffer.feed("ay.") == ""          # 'today.' could still be 'today.x@y.org'
    assert buffer.feed(" ") == "today. "


def test_decision_span_is_extended_to_the_growing_match() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    assert buffer.feed("mail jane@example.co") == "mail "
    # The job decided on 'jane@example.co' (its regex matched first there).
    assert buffer.redact(5, 20, "email_address") == "[redacted:email_address]"
    # The rest of the growing address is swallowed; 'more' could start another one.
    assert buffer.feed("m.au and more") == " and "
    assert buffer.redactions == 1


def test_decision_after_release_is_late() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    buffer.feed("mail jane@example.com now ")
    assert buffer.expire(False) == "jane@example.com now "
    assert buffer.redact(5, 21, "email_address") is None


def test_hold_time_is_measured_per_delta() -> None:
    seen: list[float] = []
    clock = iter([1.0, 1.0, 1.25, 1.5, 1.5]).__next__
    buffer = RedactionBuffer(HOLDBACK, on_hold_seconds=seen.append, clock=clock)
    buffer.feed("Fine. ")         # arrives at 1.0, out at once (1.0)
    buffer.feed("call 415-")      # arrives at 1.25: 'call ' goes, '415-' is held
    buffer.feed("5x. ")           # arrives at 1.5: not a phone, all of it goes at 1.5
    assert seen == [0.0, 0.25, 0.0]


def test_stop_releases_nothing_more() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    buffer.feed("mail jane@exa")
    buffer.stop()
    assert buffer.feed("mple.com. Bye.") == "" and buffer.finish() == ""
