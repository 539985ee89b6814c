"""Every stateful operator pickles and resumes identically: Bytewax recovery depends on it."""

from __future__ import annotations

import pickle
import random

import pytest

from midstream.config import BUNDLED_RULES
from midstream.rules_file import load_rules
from operators.repetition import RepetitionDetector
from operators.stream_health import StreamHealth
from operators.text_rules import RuleSet, TextScanState

RULES = RuleSet(load_rules(BUNDLED_RULES))
WORDS = [" I", " will", " check", ".", " mail", " a@b.io", " 4111", " 1111", " sorry", "’"]


def drive_health(state: StreamHealth, token: str, i: int) -> object:
    return state.on_token(1000.0 + i * 0.05 + (3.0 if i == 40 else 0.0))


def drive_rules(state: TextScanState, token: str, i: int) -> object:
    return [(m.rule.name, m.start, m.end) for m in RULES.scan(state, token)]


def drive_loop(state: RepetitionDetector, token: str, i: int) -> object:
    return state.update(token)


@pytest.mark.parametrize(
    ("make", "drive"),
    [
        (lambda: StreamHealth(stall_seconds=1.0), drive_health),
        (TextScanState, drive_rules),
        (lambda: RepetitionDetector(max_period=8, min_repeats=3, min_tokens=6), drive_loop),
    ],
    ids=["StreamHealth", "TextScanState", "RepetitionDetector"],
)
def test_round_trip_at_every_step_continues_identically(make, drive):
    rng = random.Random(0)
    tokens = [rng.choice(WORDS) for _ in range(200)] + [" a", " b", " c"] * 10
    reference = make()
    expected = [drive(reference, t, i) for i, t in enumerate(tokens)]
    for cut in range(0, len(tokens), 17):
        state = make()
        got = [drive(state, t, i) for i, t in enumerate(tokens[:cut])]
        state = pickle.loads(pickle.dumps(state))
        got += [drive(state, t, i + cut) for i, t in enumerate(tokens[cut:])]
        assert got == expected
