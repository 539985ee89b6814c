"""Text rules on a stream (refusals, PII, handoff requests), with their stop and redact actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from midstream.core import events
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.state import StreamState
from midstream.operators.text_rules import Rule, RuleMatch, RuleSet


class RuleFindings:
    """Scans each delta against the rules; a match is an insight and maybe a control event.

    PII stays out of insights (they feed dashboards and logs); phrases come
    from the rules file, so echoing them leaks nothing.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> from midstream.core.rules_file import load_rules
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> state = StreamAnalyzer.with_defaults().new_state("s")
    >>> from midstream.core.config import AnalysisConfig
    >>> rules = RuleFindings(load_rules(AnalysisConfig().rules_path),
    ...                      Records(LlmStreamMetrics(CollectorRegistry())))
    >>> delta = events.TokenEvent(v=1, stream_id="s", seq=1, ts=1.0, kind="delta",
    ...                           text="I'm sorry")
    >>> out = []
    >>> rules.on_text(state, delta, 0, delta.text, out)
    >>> [r.kind for _, r in out]
    ['apology']
    """

    def __init__(self, rules: Sequence[Rule], records: Records) -> None:
        self.rules = RuleSet(rules)
        self.records = records

    def on_text(self, state: StreamState, event: events.TokenEvent, token_index: int,
                text: str, out: list[Output]) -> None:
        """Scan the text ``event`` adds to the stream."""
        for match in self.rules.scan(state.text, text):
            self._on_match(state, event, token_index, match, out)

    def _on_match(self, state: StreamState, event: events.TokenEvent, token_index: int,
                  match: RuleMatch, out: list[Output]) -> None:
        rule = match.rule
        detail: dict[str, Any] = {
            "category": rule.category,
            "token_index": token_index,
            "span": [match.start, match.end],
            "action": rule.action,
        }
        if match.phrase is not None:
            detail["phrase"] = match.phrase
        records = self.records
        records.insight(out, state, event.ts, "rules", rule.name, rule.severity, event.seq,
                        detail, instance=None if rule.reports_once else match.start)
        records.remember(state, "rules", rule.name, event.seq, token_index)
        if rule.action == "stop":
            records.control(out, state, event.ts, "stop", rule.name, event.seq)
        elif rule.action == "redact":
            records.control(out, state, event.ts, "redact", rule.name, event.seq,
                            span=(match.start, match.end))
