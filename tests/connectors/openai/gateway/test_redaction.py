"""RedactionBuffer: minimal hold-back, decisions, timeouts, with the bundled redaction rules."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.connectors.openai.gateway.redaction import RedactionBuffer
from midstream.core.config import BUNDLED_RULES
from midstream.core.rules_file import load_rules
from midstream.operators.holdback import HoldBack
from tests.operators.test_holdback import counting_luhn

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


def test_the_wait_beyond_the_look_ahead_is_measured_apart() -> None:
    held: list[float] = []
    waited: list[float] = []
    now = [1.0]
    buffer = RedactionBuffer(HOLDBACK, on_hold_seconds=held.append, on_wait_seconds=waited.append,
                             clock=lambda: now[0])
    assert buffer.feed("Hi jane") == "Hi "            # 'jane' may become an address
    now[0] = 1.1
    assert buffer.feed(" and") == "jane "              # it did not; 'and' may go on too
    now[0] = 1.2
    assert buffer.feed(" bob@x.org ") == "and "        # a complete match waits for the job
    now[0] = 1.6
    assert buffer.redact(12, 21, "email_address") == "[redacted:email_address] "
    # 'Hi jane' and ' and' were each held until the next delta arrived: the look-ahead, no
    # wait. The last delta waited 0.4 s for the decision, all of it a wait.
    assert held == pytest.approx([0.1, 0.1, 0.4])
    assert waited == pytest.approx([0.0, 0.0, 0.4])


def test_a_wait_report_needs_a_hold_report() -> None:
    with pytest.raises(ValueError, match="needs on_hold_seconds"):
        RedactionBuffer(HOLDBACK, on_wait_seconds=print)


def test_stop_releases_nothing_more() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    buffer.feed("mail jane@exa")
    buffer.stop()
    assert buffer.feed("mple.com. Bye.") == "" and buffer.finish() == ""


LONG_EMAIL = "jonathan.alexander.smithson@computer-sciences.example-university-department.org"


@pytest.mark.parametrize("pieces", [
    # The timeout expired while the text stood at a complete match...
    ["Write to jonathan.alexander.smithson@computer-sciences.example",
     "-university-department.org", " today."],
    # ... or at a complete match followed by what is only a partial one yet.
    ["Write to jonathan.alexander.smithson@computer-sciences.example-univ",
     "ersity-department.org", " today."],
    ["Write to jonathan.alexander.smithson@computer-sciences.example-",
     "university-", "department.", "org", " today."],
])
def test_a_locally_redacted_match_swallows_what_it_grows_into(pieces: list[str]) -> None:
    buffer = RedactionBuffer(HOLDBACK)
    out = []
    for piece in pieces:
        out.append(buffer.feed(piece))
        if buffer.pending_match():  # the decision timeout expires here (fail closed)
            out.append(buffer.expire(True))
    out.append(buffer.finish())
    assert "".join(out) == "Write to [redacted:email_address] today."


def test_a_grown_match_ending_the_text_is_swallowed_at_the_end() -> None:
    buffer = RedactionBuffer(HOLDBACK)
    assert buffer.feed("Write to " + LONG_EMAIL[:52]) == "Write to "
    assert buffer.expire(True) == "[redacted:email_address]"
    assert buffer.feed(LONG_EMAIL[52:]) == ""
    assert buffer.finish() == ""
    assert buffer.held == 0


SECRET_POOL = ["jane.doe@example.com", "ops+alerts@mail.example.co.uk", LONG_EMAIL,
               "x@mail.example-university-department.org", "4111 1111 1111 1111",
               "5500-0000-0000-0004", "+1 415-555-0199", "(415) 555-0199"]
MARKER = "\x00{reason}\x00"


@st.composite
def stream_with_events(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """Prose and secrets cut anywhere, with timeouts and job decisions between the chunks."""
    parts = draw(st.lists(st.one_of(st.sampled_from(PROSE_WORDS),
                                    st.sampled_from(SECRET_POOL).map(lambda s: " " + s + " ")),
                          min_size=1, max_size=12))
    text = "".join(parts)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=30)))
    bounds = [0, *cuts, len(text)]
    events: list[tuple[str, str]] = []
    for a, b in pairwise(bounds):
        if b > a:
            events.append(("feed", text[a:b]))
        # A pause: the timer expires, or the job's decision arrives (or neither).
        events.extend(draw(st.lists(st.sampled_from([("timeout", ""), ("decide", "")]),
                                    max_size=2)))
    return text, events


PROSE_WORDS = ["Sure", ",", " the", " owner", " is", " Jane", ".", " Call", " me", " at", " ",
               "\n", " soon", "!", " 12", " pieces", " ok", " it", "’s", " done", "-", "@"]


@settings(max_examples=300, deadline=None)
@given(stream_with_events(), st.booleans())
def test_fail_closed_never_releases_a_character_of_a_match_whatever_the_timing(
        case: tuple[str, list[tuple[str, str]]], timeouts_first: bool) -> None:
    text, events = case
    buffer = RedactionBuffer(HOLDBACK, marker=MARKER)
    out = []
    for kind, piece in events:
        if kind == "feed":
            out.append(buffer.feed(piece))
        elif kind == "timeout" and buffer.pending_match():
            out.append(buffer.expire(True))
        elif kind == "decide":
            # The job decides on a match as it stands in the text it has seen.
            seen = HOLDBACK.matches(buffer.text)
            if seen:
                start, end, name = seen[-1] if timeouts_first else seen[0]
                got = buffer.redact(start, end, name)
                out.append(got or "")
    out.append(buffer.finish())
    while buffer.pending_match():
        out.append(buffer.expire(True))
    assert buffer.held == 0
    # The client got the text with the withheld spans replaced by markers, nothing else...
    expected, at = [], 0
    for start, end in buffer.withheld:
        assert at <= start < end
        expected.append(text[at:start])
        at = end
    expected.append(text[at:])
    assert _without_markers("".join(out)) == "".join(expected)
    # ... and every character of every match in the whole text was withheld.
    for start, end, _ in HOLDBACK.matches(text):
        assert any(a <= start and end <= b for a, b in buffer.withheld), \
            (text, "".join(out), (start, end), buffer.withheld)


def _without_markers(delivered: str) -> str:
    return "".join(delivered.split("\x00")[0::2])


@pytest.mark.parametrize("unit", ["1 ", "4111 1111 1111 1112 ", "jane.doe@mail.example-"])
def test_one_huge_delta_of_candidates_costs_bounded_work_and_leaks_nothing(unit: str) -> None:
    # 64 KB of near-misses (or of matches) in one delta, a valid card at its end: each
    # call checks a bounded number of candidates, and the card never goes out.
    holdback = HoldBack(load_rules(BUNDLED_RULES))
    checks = counting_luhn(holdback)
    buffer = RedactionBuffer(holdback)
    text = (unit * (65536 // len(unit)))[:65500] + " 4111 1111 1111 1111."
    out = [buffer.feed(text)]
    while buffer.pending_match():
        out.append(buffer.expire(True))
    assert checks[0] <= 2048  # of 32,768 candidates
    out.append(buffer.finish())
    while buffer.pending_match():
        out.append(buffer.expire(True))
    assert buffer.held == 0
    delivered = "".join(out)
    assert "4111 1111 1111 1111" not in delivered
    assert "[redacted:" in delivered
