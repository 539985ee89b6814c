"""A realistic, reproducible token-event workload for the benchmarks.

Streams mix the sample texts: most are healthy answers, some refuse, leak
PII or loop, so every default detector does real work. Events of many
streams interleave the way a busy gateway would publish them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson

from midstream.cli.sample_streams import (
    HANDOFF_TEXT,
    HEALTHY_TEXT,
    LOOP_PREFIX,
    LOOP_SPAN,
    PII_TEXT,
    REFUSAL_TEXT,
    STALL_TEXT,
    tokenize,
)

TEXTS = [
    (HEALTHY_TEXT, 50),
    (STALL_TEXT, 20),
    (REFUSAL_TEXT, 8),
    (HANDOFF_TEXT, 8),
    (PII_TEXT, 8),
    (LOOP_PREFIX + LOOP_SPAN * 6, 6),
]
PIECES = [(tokenize(text), weight) for text, weight in TEXTS]


def stream_payloads(stream_id: str, pieces: list[str], t0: float, *, end: bool = True
                    ) -> list[bytes]:
    """Encoded events of one stream: start, deltas 20 ms apart, end."""
    base = {"v": 1, "stream_id": stream_id, "role": "assistant", "model": "gpt-4o-mini",
            "provider": "openai"}
    out = [orjson.dumps({**base, "seq": 0, "ts": t0, "kind": "start"})]
    for i, piece in enumerate(pieces):
        out.append(orjson.dumps({**base, "seq": i + 1, "ts": t0 + 0.3 + 0.02 * i,
                                 "kind": "delta", "text": piece}))
    if end:
        out.append(orjson.dumps({**base, "seq": len(pieces) + 1,
                                 "ts": t0 + 0.3 + 0.02 * len(pieces), "kind": "end"}))
    return out


def interleaved(n_events: int, concurrent: int, seed: int = 1, t0: float = 1.7e9
                ) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs: ``concurrent`` streams open at a time, round-robin, until n_events."""
    rng = random.Random(seed)
    texts = [p for p, _ in PIECES]
    weights = [w for _, w in PIECES]
    next_id = 0
    open_streams: list[tuple[bytes, list[bytes], int]] = []

    def new_stream() -> tuple[bytes, list[bytes], int]:
        nonlocal next_id
        stream_id = f"bench-{seed}-{next_id}"
        next_id += 1
        pieces = rng.choices(texts, weights)[0]
        return stream_id.encode(), stream_payloads(stream_id, pieces, t0 + next_id * 0.01), 0

    open_streams = [new_stream() for _ in range(concurrent)]
    emitted = 0
    while emitted < n_events:
        for i, (key, payloads, pos) in enumerate(open_streams):
            if emitted >= n_events:
                return
            yield key, payloads[pos]
            emitted += 1
            pos += 1
            open_streams[i] = new_stream() if pos == len(payloads) else (key, payloads, pos)


def as_dict_events(n_events: int, concurrent: int, seed: int = 1) -> list[dict[str, Any]]:
    """Decoded events, for in-process runs."""
    return [orjson.loads(v) for _, v in interleaved(n_events, concurrent, seed)]
