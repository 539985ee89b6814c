"""The rule scan as it was before RE2: Python's backtracking ``re`` (the reference and the peer).

:class:`BacktrackingRuleSet` keeps the phrase matching and state of
:class:`~midstream.operators.text_rules.RuleSet` and runs patterns and anchors
the old way. The property tests check the linear engine finds exactly its
matches; ``bench/adversarial_deltas.py`` times it as the peer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from midstream.operators.text_rules import (
    ANCHOR_OVERLAP,
    VALIDATORS,
    Rule,
    RuleMatch,
    RuleSet,
    TextScanState,
)


class BacktrackingRuleSet(RuleSet):
    """A :class:`RuleSet` whose patterns and anchors run on ``re``, as before RE2."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        super().__init__(rules)
        flags = {True: re.IGNORECASE, False: 0}
        self._old = [
            (i, r, re.compile(r.pattern, flags[r.ignore_case]),
             None if r.anchor is None else re.compile(r.anchor, flags[r.ignore_case]))
            for i, r in enumerate(self.rules) if r.pattern is not None
        ]
        anchors = {f"(?i:{r.anchor})" if r.ignore_case else f"(?:{r.anchor})"
                   for r in self.rules if r.anchor is not None}
        self._old_any = re.compile("|".join(sorted(anchors))) if anchors else None

    def _scan_patterns(self, state: TextScanState, new_at: int, out: list[RuleMatch]) -> None:
        text = state.text
        anchor_from = max(0, new_at - ANCHOR_OVERLAP)
        any_anchor = self._old_any is not None and self._old_any.search(text, anchor_from)
        if not any_anchor and all(a is not None for *_, a in self._old) and (
            state.offset + new_at >= state.anchors_live_until
        ):
            return
        for rule_index, rule, pattern, anchor in self._old:
            if rule.reports_once and rule_index in state.fired:
                continue
            begin = max(0, new_at - rule.max_span)
            if anchor is not None:
                if any_anchor:
                    seen = None
                    for a in anchor.finditer(text, anchor_from):
                        seen = a.end()
                    if seen is not None:
                        state.anchor_at[rule_index] = state.offset + seen
                        state.anchors_live_until = max(state.anchors_live_until,
                                                       state.offset + seen + rule.max_span)
                last = state.anchor_at.get(rule_index)
                if last is None or last <= state.offset + new_at - rule.max_span:
                    continue
            validator = VALIDATORS[rule.validator] if rule.validator else None
            for m in pattern.finditer(text, begin):
                if m.end() <= new_at or m.end() == m.start():
                    continue
                start, end = state.offset + m.start(), state.offset + m.end()
                previous = state.last_span.get(rule_index)
                if previous is not None and start < previous[1] and end > previous[0]:
                    state.last_span[rule_index] = (min(start, previous[0]), max(end, previous[1]))
                    continue
                if validator is not None and not validator(m.group()):
                    continue
                state.last_span[rule_index] = (start, end)
                out.append(RuleMatch(rule, start, end))
                if rule.reports_once:
                    state.fired.add(rule_index)
                    break
