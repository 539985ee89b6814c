"""HoldBack never releases a character of a redaction match, and holds little else."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.core.config import BUNDLED_RULES
from midstream.core.rules_file import load_rules
from midstream.operators.holdback import MAX_FAILED_CHECKS, HoldBack
from midstream.operators.text_rules import MAX_MATCHES_PER_DELTA, Rule

RULES = load_rules(BUNDLED_RULES)
HOLD = HoldBack(RULES)

PROSE = ["Sure", ",", " the", " owner", " is", " Jane", ".", " Call", " me", " at", " ", "\n",
         " soon", "!", " 12", " pieces", " ok", " it", "’s", " done"]
SECRETS = ["jane.doe@example.com", "ops+alerts@mail.example.co.uk", "4111 1111 1111 1111",
           "5500-0000-0000-0004", "+1 415-555-0199", "(415) 555-0199"]


@st.composite
def chunked_stream(draw: st.DrawFn) -> list[str]:
    """Prose with secrets inserted, cut into chunks at arbitrary places (even mid-secret)."""
    parts = draw(st.lists(st.one_of(st.sampled_from(PROSE),
                                    st.sampled_from(SECRETS).map(lambda s: " " + s + " ")),
                          min_size=1, max_size=30))
    text = "".join(parts)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=25)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds) if b > a]


@settings(max_examples=300, deadline=None)
@given(chunked_stream())
def test_no_character_of_a_final_match_is_released_early(chunks):
    text = "".join(chunks)
    final = HOLD.matches(text)
    released = 0
    seen = ""
    for chunk in chunks:
        seen += chunk
        released = max(released, HOLD.hold_from(seen, released))
        for start, end, _ in final:
            # Whatever was released so far ends before every match that is (or will be) there.
            assert released <= start or end <= 0, (seen, released, start, end)
    # When the stream ends, partial matches cannot complete: only real matches stay held.
    released = max(released, HOLD.hold_from(text, released, final=True))
    first = min((start for start, _, _ in final), default=len(text))
    assert released == first


def test_text_that_cannot_become_a_match_is_released_at_once():
    assert HOLD.hold_from("Hello world! ") == len("Hello world! ")
    text = "I am done. "
    assert HOLD.hold_from(text) == len(text)


def test_a_trailing_word_or_number_is_held_because_it_could_become_pii():
    assert HOLD.hold_from("Write to jane") == len("Write to ")
    assert HOLD.hold_from("Card 4111 11") == len("Card ")
    assert HOLD.hold_from("Call +1 415") == len("Call ")


def test_a_complete_match_is_held_until_redacted_and_a_failed_validator_is_not():
    text = "card 4111 1111 1111 1111 thanks"
    assert HOLD.hold_from(text) == len("card ")
    assert HOLD.matches(text) == [(5, 24, "payment_card")]
    not_a_card = "order 4111 1111 1111 1112 thanks! "  # fails the Luhn check
    assert HOLD.hold_from(not_a_card) == len(not_a_card)


def test_a_valid_card_inside_a_longer_failing_number_is_still_found():
    text = " 12 4111 1111 1111 1111 "
    assert HOLD.matches(text) == [(4, 23, "payment_card")]
    assert HOLD.hold_from(text, final=True) == 4


def test_start_keeps_released_context_for_look_behinds_and_never_goes_back():
    text = "-4111 1111 1111 1111 "
    assert HOLD.hold_from(text, start=3) >= 3


def test_redaction_phrases_hold_their_prefixes():
    hold = HoldBack([Rule("codename", phrases=("project falcon",), action="redact")])
    assert hold.hold_from("We call it Project Fal") == len("We call it ")
    assert hold.hold_from("We call it Project X.") == len("We call it Project X.")
    assert hold.matches("the PROJECT FALCON plan") == [(4, 18, "codename")]


def test_rules_that_do_not_redact_hold_nothing():
    flagging = HoldBack([r for r in RULES if r.action != "redact"])
    assert not flagging.active
    assert flagging.hold_from("I'm sorry, I can't help with jane@x.io") == 38


def _backtracking_matches(hold: HoldBack, text: str) -> list[tuple[int, int, str]]:
    """The same search with the ``regex`` package only (the semantics RE2 must keep)."""
    found = []
    for pattern in hold._patterns:
        pos = 0
        while (m := pattern.backtracking.search(text, pos)) is not None:
            if pattern.valid(m.group()):
                found.append((m.start(), m.end(), pattern.name))
                pos = max(m.end(), m.start() + 1)
            else:
                pos = m.start() + 1
    return sorted(found)


NEAR = ["4", "1", " ", "-", "(", ")", "+", "5", "0", "@", ".", "a", "x", "com", "org", "\n",
        "٣", "é", "_"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(NEAR), st.sampled_from(SECRETS),
                          st.sampled_from(PROSE)), max_size=40))
def test_the_linear_engine_finds_the_backtracking_engines_matches(parts: list[str]) -> None:
    text = "".join(parts)
    assert HOLD.matches(text) == _backtracking_matches(HOLD, text)


def test_every_bundled_redaction_rule_runs_in_linear_time() -> None:
    assert HOLD.backtracking_rules == []


def test_a_rule_re2_cannot_run_falls_back_to_backtracking() -> None:
    # The rules file refuses such a pattern now; the hold-back still copes if one comes.
    with pytest.raises(ValueError, match="back-references"):
        Rule("twice", pattern=r"(ab)\1", action="redact")
    rule = Rule("twice", pattern=r"abab", action="redact")
    object.__setattr__(rule, "pattern", r"(ab)\1")
    hold = HoldBack([rule])
    assert hold.backtracking_rules == ["twice"]
    assert hold.matches("x abab y") == [(2, 6, "twice")]
    assert hold.hold_from("x aba") == 2


def _seconds(text: str) -> float:
    # CPU time of this thread: on a busy machine wall-clock time mostly measures the wait.
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        HOLD.hold_from(text)
        HOLD.matches(text)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("unit", [
    "a" * 2047 + "@",
    "x@" + "a." * 1023,
    "a" * 200 + "@",
    "1" * 2048,
    "4111 1111 1111 1112 ",
    "1 ",
])
def test_adversarial_text_takes_linear_time(unit: str) -> None:
    # Backtracking took seconds on these (quadratic: 4x the text, 16x the time). The
    # figures per delta are bench/gateway_adversarial.py's; here only the growth.
    small, large = unit * (8192 // len(unit) + 1), unit * (32768 // len(unit) + 1)
    assert _seconds(large) < 8 * max(_seconds(small), 1e-3)


def counting_luhn(hold: HoldBack) -> list[int]:
    """Count the card rule's Luhn checks (the real check, counted)."""
    calls = [0]
    card = next(p for p in hold._patterns if p.validator is not None)
    check = card.validator
    assert check is not None

    def counted(text: str) -> bool:
        calls[0] += 1
        return check(text)

    card.validator = counted
    return calls


def test_a_flood_of_near_misses_costs_bounded_checks_and_is_held_not_released() -> None:
    hold = HoldBack(RULES)
    calls = counting_luhn(hold)
    flood = "1 " * 32768 + "4111 1111 1111 1111 end"
    at = hold.hold_from(flood)
    assert calls[0] == MAX_FAILED_CHECKS
    assert 0 < at < 4 * MAX_FAILED_CHECKS  # the rest waits for the next look
    calls[0] = 0
    found = hold.matches(flood)
    assert calls[0] == MAX_FAILED_CHECKS
    assert found[-1][1:] == (len(flood), "payment_card")  # the rest is one match: the card too
    assert found[-1][0] <= flood.index("4111")


def test_a_flood_of_matches_reports_32_and_then_the_rest_as_one() -> None:
    flood = "x jane@example.com" * 1000
    found = HOLD.matches(flood)
    assert len(found) == MAX_MATCHES_PER_DELTA + 1
    assert found[-1] == (18 * MAX_MATCHES_PER_DELTA + 2, len(flood), "email_address")
