"""The replay source: replayed timestamps depend on the recording only, not on the start time."""

from __future__ import annotations

import itertools

import orjson

from midstream.cli.sample_streams import REPLAY_FILE
from midstream.connectors.replay import ReplaySource


def _replayed_ts(start: float) -> list[float]:
    """Every ``ts`` of the sample file as replayed at 2x, starting at wall time ``start``."""
    clock = [start]
    part = ReplaySource(REPLAY_FILE, speed=2.0, clock=lambda: clock[0]).build_part(
        "in", "replay", None)
    stamps: list[float] = []
    clock[0] = start + 10_000.0  # everything is due
    for message in part.next_batch():
        assert message.value is not None
        event = orjson.loads(message.value)
        stamps.append(event["ts"])
    return stamps


def test_gaps_between_replayed_timestamps_are_the_same_whenever_the_replay_starts() -> None:
    first = _replayed_ts(1_765_000_000.123456)
    second = _replayed_ts(1_765_003_210.987654)
    assert len(first) > 1000
    # Each replay starts on a whole second, so the stamps differ by whole seconds only and
    # every gap is the same float.
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert gaps == [b - a for a, b in itertools.pairwise(second)]


def test_the_first_event_is_replayed_within_a_second_of_the_start() -> None:
    stamps = _replayed_ts(1_765_000_000.25)
    assert 1_765_000_000.25 <= stamps[0] <= 1_765_000_001.25
