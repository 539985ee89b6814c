"""Tests for midstream/rules_file.py."""

from __future__ import annotations

import pytest

from midstream.core.config import BUNDLED_RULES
from midstream.core.rules_file import RulesFileError, load_rules, parse_rules


def test_bundled_rules_cover_the_documented_categories():
    rules = {r.name: r for r in load_rules(BUNDLED_RULES)}
    assert {"refusal", "apology", "handoff_request", "email_address", "payment_card",
            "phone_number"} <= set(rules)
    assert rules["email_address"].action == "redact"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[rule]]\nname = 'x'\nphrase = ['a']", "unknown keys ['phrase']"),
        ("[[rule]]\nname = 'x'\nphrases = 'a'", "'phrases' must be a list of strings"),
        ("[[rule]]\nname = 'x'\nphrases = ['a']\naction = 'explode'", "action must be one of"),
        ("[[rule]\n", "not valid TOML"),
        ("rule = 3", "expected an array"),
    ],
)
def test_errors_say_where_and_why(text, fragment):
    with pytest.raises(RulesFileError, match=r"rule #1|not valid TOML|expected an array") as err:
        parse_rules(text)
    assert fragment in str(err.value)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[[rule]]\nname='x'\n")
    with pytest.raises(RulesFileError, match=str(path)):
        load_rules(path)


@pytest.mark.parametrize(("text", "fragment"), [
    # Found by fuzz/targets.py (rules_file): re.compile raised OverflowError.
    ('[[rule]]\nname = "r"\npattern = "a{99999999999}"\n', "repetition number is too large"),
    ("a = " + "[" * 100_000, "nested too deeply"),
    ('[[rule]]\nname = "r"\npattern = "' + "(" * 5000 + ")" * 5000 + '"\n', "rule #1"),
])
def test_hostile_rules_files_are_rules_file_errors(text, fragment):
    with pytest.raises(RulesFileError, match=fragment.replace("(", r"\(")):
        parse_rules(text)
