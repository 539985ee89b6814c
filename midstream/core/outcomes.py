"""Feedback outcomes: the built-in vocabulary, and the reward map that turns feedback into labels.

A feedback event (:class:`~midstream.core.events.FeedbackEvent`, topic
``midstream.feedback``) names an ``outcome``, carries a ``reward``, or both. A
learner needs both a reward and a label (did the stream end badly?):
:func:`resolve_feedback` derives them from the event and a reward map, which
:func:`load_outcomes` reads from TOML. The bundled map is
``midstream/core/data/outcomes.toml``; the format is in the README ("Feedback").

Examples
--------
>>> from midstream.core.events import parse_feedback_event
>>> event = parse_feedback_event(b'{"v":1,"stream_id":"s","ts":1,"outcome":"thumbs_down"}')
>>> resolve_feedback(event, load_outcomes())
Label(reward=-1.0, bad=True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from midstream.core.events import NO_OUTCOME, FeedbackEvent, Invalid
from midstream.core.exceptions import OutcomesFileError
from midstream.core.toml_tables import array_of_tables

BUNDLED_OUTCOMES = Path(__file__).parent / "data" / "outcomes.toml"

OUTCOMES: Mapping[str, str] = MappingProxyType({
    "thumbs_up": "the user rated the answer up",
    "thumbs_down": "the user rated the answer down",
    "regenerated": "the user asked for the answer again",
    "abandoned": "the user left before the answer or the task was done",
    "escalated": "the conversation was handed to a human",
    "resolved": "the user's issue was resolved",
    "complaint": "the user complained about the answer",
    "review_pass": "a reviewer (human or model) passed the answer",
    "review_fail": "a reviewer (human or model) failed the answer",
})
"""The built-in vocabulary of ``outcome`` terms, each with its meaning. Producers may
send other terms; a reward map says what they are worth (its names are lower-case
words, so a producer's ``"Thumbs Up"`` is an unknown term, not ``thumbs_up``)."""

BAD_OUTCOMES: frozenset[str] = frozenset(
    {"thumbs_down", "regenerated", "abandoned", "escalated", "complaint", "review_fail"})
"""The built-in outcomes that are a bad ending of the stream; the others are good."""

_KEYS = ("name", "reward", "bad", "meaning")
MAX_NAME_CHARS = 64
_OUTCOME = re.compile(r"^[a-z][a-z0-9_]*\Z")  # \Z, not $: $ lets a trailing newline through
_SHAPE = (f"a lower-case letter, then lower-case letters, digits or '_', "
          f"at most {MAX_NAME_CHARS} characters")
_NAMES_SHOWN = 12


@dataclass(frozen=True, slots=True)
class OutcomeReward:
    """What one outcome is worth to a learner: its reward, and whether it is a bad ending."""

    reward: float
    bad: bool
    meaning: str = ""


class Label(NamedTuple):
    """One feedback event as a learner uses it: its reward, and whether the stream ended badly."""

    reward: float
    bad: bool


def parse_outcomes(text: str) -> dict[str, OutcomeReward]:
    r"""Parse a reward map from TOML text: an array of ``[[outcome]]`` tables.

    Each table has ``name`` (shaped like a feedback ``outcome``), ``reward`` (a
    finite number), ``bad`` (``true`` or ``false``) and an optional ``meaning``.
    Raises ``OutcomesFileError`` naming the table and the valid values on any mistake,
    however hostile the text.

    Examples
    --------
    >>> parse_outcomes('''
    ... [[outcome]]
    ... name = "csat_low"
    ... reward = -0.8
    ... bad = true
    ... ''')
    {'csat_low': OutcomeReward(reward=-0.8, bad=True, meaning='')}
    >>> parse_outcomes('[[outcome]]\nname = "x"\nreward = 0\nbad = "no"')
    Traceback (most recent call last):
    midstream.core.exceptions.OutcomesFileError: outcome #1 ('x'): 'bad' must be true or false
    """
    try:
        tables = array_of_tables(text, "outcome", ValueError)
    except ValueError as exc:
        raise OutcomesFileError(str(exc)) from None
    if not tables:
        raise OutcomesFileError("no [[outcome]] tables: a reward map needs at least one outcome")
    outcomes: dict[str, OutcomeReward] = {}
    for index, table in enumerate(tables):
        name, value = _outcome_from_table(index, table)
        if name in outcomes:
            raise OutcomesFileError(f"outcome #{index + 1}: the name {name!r} is already used; "
                                 f"names must be unique")
        outcomes[name] = value
    return outcomes


def _outcome_from_table(index: int, table: Any) -> tuple[str, OutcomeReward]:
    where = f"outcome #{index + 1}"
    if not isinstance(table, dict):
        raise OutcomesFileError(f"{where}: expected a table with keys {list(_KEYS)}")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise OutcomesFileError(f"{where}: unknown keys {unknown}; allowed: {list(_KEYS)}")
    for key in ("name", "reward", "bad"):
        if key not in table:
            raise OutcomesFileError(f"{where}: '{key}' is required")
    name = table["name"]
    if not (isinstance(name, str) and len(name) <= MAX_NAME_CHARS and _OUTCOME.match(name)):
        raise OutcomesFileError(f"{where}: 'name' must be {_SHAPE}")
    where = f"{where} ({name!r})"
    reward = _finite(table["reward"])
    if reward is None:
        raise OutcomesFileError(f"{where}: 'reward' must be a finite number (by convention in [-1, 1])")
    bad = table["bad"]
    if not isinstance(bad, bool):
        raise OutcomesFileError(f"{where}: 'bad' must be true or false")
    meaning = table.get("meaning", OUTCOMES.get(name, ""))
    if not isinstance(meaning, str):
        raise OutcomesFileError(f"{where}: 'meaning' must be a string")
    return name, OutcomeReward(reward, bad, meaning)


def _finite(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None (TOML's booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an integer past the float range raises OverflowError
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def load_outcomes(path: str | Path = BUNDLED_OUTCOMES) -> dict[str, OutcomeReward]:
    """Read and parse a reward map file; the bundled one by default.

    A file replaces the bundled map: copy it and add your own terms. Errors
    start with the file's path.

    Examples
    --------
    >>> outcomes = load_outcomes()
    >>> outcomes["thumbs_up"]
    OutcomeReward(reward=1.0, bad=False, meaning='the user rated the answer up')
    >>> sorted(outcomes) == sorted(OUTCOMES)
    True
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        return parse_outcomes(text)
    except OutcomesFileError as exc:
        raise OutcomesFileError(f"{path}: {exc}") from exc


def resolve_feedback(event: FeedbackEvent,
                     outcomes: Mapping[str, OutcomeReward]) -> Label | Invalid:
    """Turn one feedback event into a learner's :class:`Label`, or say why it cannot.

    The rules, in order:

    - An outcome the map knows: its ``bad``, and the event's ``reward`` when it has
      one (an explicit reward wins), else the map's reward.
    - Otherwise an event with a ``reward`` (no outcome, or one the map does not
      know): that reward, and ``bad`` when it is negative (zero is not bad).
    - Otherwise: ``Invalid`` with reason ``unknown_outcome`` (or ``no_outcome`` for
      an event with neither field, which :func:`~midstream.core.events.parse_feedback_event`
      never returns), for the caller to count and drop or dead-letter.

    Examples
    --------
    >>> from midstream.core.events import FeedbackEvent
    >>> outcomes = load_outcomes()
    >>> resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=1.0, outcome="resolved"), outcomes)
    Label(reward=1.0, bad=False)
    >>> resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=1.0, outcome="thumbs_down",
    ...                                reward=-0.2), outcomes)
    Label(reward=-0.2, bad=True)
    >>> resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=1.0, reward=-0.5), outcomes)
    Label(reward=-0.5, bad=True)
    >>> resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=1.0, outcome="csat_low"),
    ...                  outcomes).reason
    'unknown_outcome'
    """
    known = None if event.outcome is None else outcomes.get(event.outcome)
    if known is not None:
        return Label(known.reward if event.reward is None else event.reward, known.bad)
    if event.reward is not None:
        return Label(event.reward, event.reward < 0)
    if event.outcome is None:
        return NO_OUTCOME
    return Invalid("unknown_outcome",
                   f"outcome {event.outcome!r} is not in the reward map and the event has no "
                   f"'reward'; known outcomes: {_names(outcomes)}")


def _names(outcomes: Mapping[str, OutcomeReward]) -> str:
    """List a map's names for an error message, the first few of a long map only."""
    names = sorted(outcomes)
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown or "none"
