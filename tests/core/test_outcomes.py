"""Outcomes and the reward map: the bundled file loads, mistakes are named, feedback resolves by the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from midstream.core import outcomes
from midstream.core.events import FeedbackEvent, Invalid, parse_feedback_event
from midstream.core.exceptions import MidStreamError
from midstream.core.outcomes import (
    BAD_OUTCOMES,
    BUNDLED_OUTCOMES,
    OUTCOMES,
    Label,
    OutcomeReward,
    load_outcomes,
    parse_outcomes,
    resolve_feedback,
)


def test_the_bundled_map_covers_the_vocabulary_and_agrees_on_bad_endings() -> None:
    bundled = load_outcomes(BUNDLED_OUTCOMES)
    assert set(bundled) == set(OUTCOMES)
    assert set(OUTCOMES) > BAD_OUTCOMES
    for name, value in bundled.items():
        assert value.bad == (name in BAD_OUTCOMES), name
        assert -1.0 <= value.reward <= 1.0
        assert (value.reward < 0) == value.bad, name  # good endings are worth more than bad
        assert value.meaning == OUTCOMES[name]
    assert all(meaning and "\n" not in meaning for meaning in OUTCOMES.values())


def test_every_outcome_is_a_valid_contract_term() -> None:
    for name in OUTCOMES:
        event = parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"outcome":"%s"}'
                                     % name.encode())
        assert isinstance(event, FeedbackEvent), name


def test_user_defined_terms_and_meanings() -> None:
    text = """
[[outcome]]
name = "csat_5"
reward = 1
bad = false
meaning = "five stars in the survey"

[[outcome]]
name = "thumbs_down"
reward = -0.3
bad = true
"""
    parsed = parse_outcomes(text)
    assert parsed == {
        "csat_5": OutcomeReward(1.0, False, "five stars in the survey"),
        "thumbs_down": OutcomeReward(-0.3, True, OUTCOMES["thumbs_down"]),
    }
    assert isinstance(parsed["csat_5"].reward, float)
    event = FeedbackEvent(v=1, stream_id="s", ts=1.0, outcome="csat_5")
    assert resolve_feedback(event, parsed) == Label(1.0, False)
    # The file replaces the bundled map: a built-in term it leaves out is unknown.
    resolved = resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=1.0, outcome="resolved"),
                                parsed)
    assert isinstance(resolved, Invalid) and resolved.reason == "unknown_outcome"


ONE = '[[outcome]]\nname = "x"\nreward = 0.5\nbad = false\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[\\[outcome\\]\\] tables"),
        ('[[outcomes]]\nname = "x"\nreward = 1\nbad = false', "no \\[\\[outcome\\]\\] tables"),
        ('[outcome.x]\nreward = 1\nbad = false', "expected an array of \\[\\[outcome\\]\\]"),
        ("outcome = [1]", "outcome #1: expected a table with keys"),
        ("[[outcome]\n", "not valid TOML"),
        ("outcome = " + "[" * 100_000, "nested too deeply"),
        (ONE + 'colour = "red"', "outcome #1: unknown keys \\['colour'\\]; allowed: \\['name'"),
        ('[[outcome]]\nname = "x"\nbad = false', "outcome #1: 'reward' is required"),
        ('[[outcome]]\nname = "x"\nreward = 1', "outcome #1: 'bad' is required"),
        ('[[outcome]]\nreward = 1\nbad = true', "outcome #1: 'name' is required"),
        ('[[outcome]]\nname = "Thumbs Up"\nreward = 1\nbad = false',
         "outcome #1: 'name' must be a lower-case letter, then lower-case letters, digits or '_'"),
        ('[[outcome]]\nname = "' + "x" * 65 + '"\nreward = 1\nbad = false', "at most 64"),
        ('[[outcome]]\nname = 5\nreward = 1\nbad = false', "'name' must be"),
        ('[[outcome]]\nname = "x"\nreward = "high"\nbad = false',
         "outcome #1 \\('x'\\): 'reward' must be a finite number"),
        ('[[outcome]]\nname = "x"\nreward = nan\nbad = false', "'reward' must be a finite"),
        ('[[outcome]]\nname = "x"\nreward = -inf\nbad = false', "'reward' must be a finite"),
        ('[[outcome]]\nname = "x"\nreward = 1e999\nbad = false', "'reward' must be a finite"),
        ('[[outcome]]\nname = "x"\nreward = 99999999999999999999' + "9" * 400 + "\nbad = false",
         "'reward' must be a finite"),
        ('[[outcome]]\nname = "x"\nreward = true\nbad = false', "'reward' must be a finite"),
        ('[[outcome]]\nname = "x"\nreward = 1\nbad = 1', "'bad' must be true or false"),
        ('[[outcome]]\nname = "x"\nreward = 1\nbad = "yes"', "'bad' must be true or false"),
        (ONE + "meaning = 3", "'meaning' must be a string"),
        (ONE + ONE.replace("0.5", "1"), "outcome #2: the name 'x' is already used"),
    ],
)
def test_malformed_maps_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(MidStreamError, match=message):
        parse_outcomes(text)


def test_errors_from_a_file_name_the_file(tmp_path) -> None:
    path = tmp_path / "my_outcomes.toml"
    path.write_text('[[outcome]]\nname = "x"\nreward = 1\nbad = "maybe"\n')
    with pytest.raises(MidStreamError, match=f"^{path}: outcome #1 \\('x'\\): 'bad' must be"):
        load_outcomes(path)
    path.write_text(ONE)
    assert load_outcomes(str(path)) == {"x": OutcomeReward(0.5, False, "")}


MAP = {"good": OutcomeReward(0.7, False), "bad_one": OutcomeReward(-0.4, True),
       "zero_but_bad": OutcomeReward(0.0, True)}


def feedback(**fields: object) -> FeedbackEvent:
    return FeedbackEvent(v=1, stream_id="s", ts=1.0, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"outcome": "good"}, Label(0.7, False)),
        ({"outcome": "bad_one"}, Label(-0.4, True)),
        ({"outcome": "zero_but_bad"}, Label(0.0, True)),
        # An explicit reward wins; the known outcome still says whether it was bad.
        ({"outcome": "bad_one", "reward": 0.9}, Label(0.9, True)),
        ({"outcome": "good", "reward": -1.0}, Label(-1.0, False)),
        # A reward alone, or with an outcome the map does not know: bad when negative.
        ({"reward": 0.25}, Label(0.25, False)),
        ({"reward": 0.0}, Label(0.0, False)),
        ({"reward": -0.0}, Label(-0.0, False)),
        ({"reward": -2.0}, Label(-2.0, True)),
        ({"outcome": "user_retried", "reward": -0.5}, Label(-0.5, True)),
        ({"outcome": "user_retried", "reward": 3.0}, Label(3.0, False)),
    ],
)
def test_resolution_rules(fields: dict[str, object], label: Label) -> None:
    resolved = resolve_feedback(feedback(**fields), MAP)
    assert resolved == label
    assert isinstance(resolved, Label)
    reward, bad = resolved
    assert (reward, bad) == (label.reward, label.bad)


def test_an_unknown_outcome_without_a_reward_is_invalid_with_a_stable_reason() -> None:
    resolved = resolve_feedback(feedback(outcome="csat_low"), MAP)
    assert isinstance(resolved, Invalid)
    assert resolved.reason == "unknown_outcome"
    assert "'csat_low'" in resolved.error and "bad_one, good, zero_but_bad" in resolved.error
    empty = resolve_feedback(feedback(outcome="x"), {})
    assert isinstance(empty, Invalid) and empty.error.endswith("known outcomes: none")


def test_a_long_map_is_listed_shortly_in_errors() -> None:
    big = {f"term_{i:03d}": OutcomeReward(0.0, False) for i in range(500)}
    resolved = resolve_feedback(feedback(outcome="nope"), big)
    assert isinstance(resolved, Invalid)
    assert resolved.error.endswith("term_011 and 488 more")
    assert len(resolved.error) < 400


def test_an_event_with_neither_field_is_no_outcome() -> None:
    resolved = resolve_feedback(feedback(), MAP)
    assert isinstance(resolved, Invalid) and resolved.reason == "no_outcome"


def test_module_constants_are_read_only() -> None:
    with pytest.raises(TypeError):
        outcomes.OUTCOMES["new"] = "x"  # type: ignore[index]


def test_the_readme_lists_the_bundled_map() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for name, value in load_outcomes().items():
        row = f"| `{name}` | {value.meaning} | {'yes' if value.bad else 'no'} | {value.reward} |"
        assert row in readme, row
