"""A short fuzz run of every target in ``fuzz/targets.py``, so CI runs each harness.

In process: each target's seed corpus, then 2,000 mutations of it (byte flips,
cuts, splices, repeats; a fixed seed, so a failure reproduces). One target also
runs under atheris itself, the way ``python -m fuzz.run`` runs them all. The
long coverage-guided runs and their figures are in ``fuzz/README.md``.
"""

from __future__ import annotations

import random
import sys

import pytest

from fuzz.run import run_target
from fuzz.targets import TARGETS, seeds

EXECUTIONS = 2_000


def mutations(corpus: list[bytes], count: int, rng: random.Random):
    """Yield ``count`` inputs made from ``corpus`` by small random edits."""
    pool = corpus or [b""]
    for _ in range(count):
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            where = rng.randint(0, len(data))
            edit = rng.randrange(6)
            if edit == 0 and data:
                data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif edit == 1:
                data[where:where] = bytes([rng.randrange(256)])
            elif edit == 2:
                del data[where:where + rng.randint(1, 16)]
            elif edit == 3:
                other = rng.choice(pool)
                data[where:] = other[rng.randint(0, len(other)):]
            elif edit == 4:
                data[where:where] = rng.choice((b"[", b"{", b'"', b"\\u", b"\xff", b"1e999",
                                                b"\x00", b"\n", b"-", b"e")) * rng.randint(1, 300)
            else:
                data[where:where] = data[where:where + 8] * rng.randint(2, 50)
        yield bytes(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_its_seeds_and_mutations(name: str) -> None:
    target = TARGETS[name]
    corpus = seeds(name)
    assert corpus, f"fuzz/corpus/{name}/ has no seeds"
    for data in corpus:
        target.run(data)
    for data in mutations(corpus, EXECUTIONS, random.Random(name)):
        target.run(data)  # anything but a documented rejection raises: a finding


def test_the_harness_flags_an_undocumented_exception() -> None:
    with pytest.raises(RecursionError):
        TARGETS["token_event"].__class__("t", _too_deep, ()).run(b"")


def _too_deep(data: bytes) -> None:
    raise RecursionError("as a careless parser would")


@pytest.mark.skipif(sys.platform != "linux", reason="atheris wheels are for Linux")
def test_a_target_runs_under_atheris() -> None:
    report = run_target("token_event", EXECUTIONS, seconds=60)
    assert (report.crashes, report.hangs) == (0, 0), report.output[-3000:]
    assert report.executions >= EXECUTIONS
    assert report.coverage > 0
