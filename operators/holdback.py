r"""The minimal suffix of a stream's text to hold back so that redactions can still happen.

A gateway that redacts mid-stream must not release a character that could turn
out to belong to a redaction match, yet every character it holds is latency for
the user. :class:`HoldBack` finds, for the text not yet released, the earliest
position where a redaction match starts: a complete match (waiting for its
redaction), or a *partial* one that more text could still complete (``jane.doe@``
could become an email). Everything before that position is safe to release now.

Regular expressions are matched with the ``regex`` package's partial matching
(a match attempt that runs into the end of the text is reported as partial);
phrases are matched case-insensitively with the same folding as the detectors
(:func:`midstream.operators.text_rules.fold`).

Examples
--------
>>> from midstream.operators.text_rules import Rule
>>> email = Rule("email", category="pii", action="redact", max_span=254,
...              pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
>>> hold = HoldBack([email])
>>> text = "Write to jane.doe@exa"
>>> text[:hold.hold_from(text)]              # 'jane.doe@exa' could still become an email
'Write to '
>>> hold.hold_from("Write to me. ") == len("Write to me. ")   # nothing to hold
True
>>> hold.matches("mail jane@example.com now")
[(5, 21, 'email')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import regex

from midstream.operators.text_rules import VALIDATORS, Rule, fold


class HoldBack:
    """Where to stop releasing a stream's text, given the redaction rules.

    Parameters
    ----------
    rules
        Detection rules; only those whose action is ``redact`` matter.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        redacting = [r for r in rules if r.action == "redact"]
        self._patterns = [
            (r.name, regex.compile(r.pattern, regex.IGNORECASE if r.ignore_case else 0),
             VALIDATORS.get(r.validator) if r.validator else None)
            for r in redacting if r.pattern is not None
        ]
        self._phrases = [(r.name, fold(p)) for r in redacting for p in r.phrases]

    @property
    def active(self) -> bool:
        """Whether any rule redacts (without one, nothing is ever held)."""
        return bool(self._patterns or self._phrases)

    def hold_from(self, text: str, start: int = 0, *, final: bool = False) -> int:
        """Index from which ``text`` must be held back; ``len(text)`` when none of it must.

        ``text[:start]`` is context already released (look-behinds may need it);
        the answer is never below ``start``. With ``final`` the stream has ended:
        partial matches can no longer complete, so only complete ones are held.
        """
        end = len(text)
        hold = end
        for _, pattern, validator in self._patterns:
            hold = min(hold, _pattern_hold(pattern, validator, text, start, end, final))
        if self._phrases:
            folded = fold(text)
            for _, phrase in self._phrases:
                found = folded.find(phrase, start)
                if found != -1:
                    hold = min(hold, found)
                if final:
                    continue
                # The longest proper prefix of the phrase that the text ends with.
                for k in range(min(len(phrase) - 1, end - start), 0, -1):
                    if folded.endswith(phrase[:k]):
                        hold = min(hold, end - k)
                        break
        return max(hold, start)

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """Complete redaction matches in ``text`` as ``(start, end, rule name)``, by start.

        For redacting locally when no decision from the job arrives (fail closed).
        """
        found: list[tuple[int, int, str]] = []
        for name, pattern, validator in self._patterns:
            pos = 0
            while (m := pattern.search(text, pos)) is not None:
                if validator is None or validator(m.group()):
                    found.append((m.start(), m.end(), name))
                    pos = max(m.end(), m.start() + 1)
                else:
                    pos = m.start() + 1  # a failed check may hide a valid match inside it
        if self._phrases:
            folded = fold(text)
            for name, phrase in self._phrases:
                at = folded.find(phrase)
                while at != -1:
                    found.append((at, at + len(phrase), name))
                    at = folded.find(phrase, at + 1)
        return sorted(found)


def _pattern_hold(pattern: regex.Pattern[str], validator: Callable[[str], bool] | None,
                  text: str, start: int,
                  end: int, final: bool) -> int:
    """Earliest start, from ``start``, of a partial or (valid) complete match of ``pattern``."""
    pos = start
    while pos < end:
        m = pattern.search(text, pos, partial=not final)
        if m is None:
            return end
        if m.partial or (m.end() == end and not final):
            return m.start()  # more text could complete or extend it
        if validator is None or validator(m.group()):
            return m.start()  # a finished match: it waits for its redaction
        pos = m.start() + 1  # e.g. a number failing the Luhn check: not PII
    return end
