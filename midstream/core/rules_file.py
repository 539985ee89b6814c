"""Loading detection rules from a TOML rules file.

The format is documented in the README ("Rules file"); the bundled default is
``midstream/core/data/rules.toml``.

Examples
--------
>>> rules = parse_rules('''
... [[rule]]
... name = "handoff"
... category = "intent"
... phrases = ["talk to a human"]
... ''')
>>> rules[0].name, rules[0].phrases
('handoff', ('talk to a human',))
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from midstream.core.exceptions import RulesFileError
from midstream.core.toml_tables import array_of_tables, load_file
from midstream.operators.text_rules import Rule

_ALLOWED = {f.name for f in fields(Rule)}



def _rule_from_table(index: int, table: dict[str, Any]) -> Rule:
    unknown = sorted(set(table) - _ALLOWED)
    if unknown:
        raise RulesFileError(
            f"rule #{index + 1}: unknown keys {unknown}; allowed: {sorted(_ALLOWED)}"
        )
    values = dict(table)
    if "phrases" in values:
        phrases = values["phrases"]
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise RulesFileError(f"rule #{index + 1}: 'phrases' must be a list of strings")
        values["phrases"] = tuple(phrases)
    try:
        return Rule(**values)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        # re.compile raises OverflowError for a repeat past 4 billion ("a{9999999999}"),
        # RecursionError for groups nested thousands deep.
        raise RulesFileError(f"rule #{index + 1}: {exc}") from exc


def parse_rules(text: str) -> list[Rule]:
    """Parse rules from TOML text: an array of ``[[rule]]`` tables."""
    tables = array_of_tables(text, "rule", RulesFileError)
    return [_rule_from_table(i, t) for i, t in enumerate(tables)]


def load_rules(path: str | Path) -> list[Rule]:
    """Read and parse a rules file."""
    return load_file(path, parse_rules, RulesFileError)
