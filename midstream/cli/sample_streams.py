"""Realistic sample LLM token streams with timing, for the demo, tests and benchmarks.

Texts are split into sub-word pieces the way BPE tokenizers split them (short
words whole, long words and emails in chunks), and timed with a log-normal
inter-token latency around 25 ms and a few hundred milliseconds to the first
token, like a hosted chat model.

The bundled replay file ``midstream/cli/data/sample_streams.jsonl`` is the output
of :func:`write_replay_file` (``python -m midstream.cli.sample_streams``). Its
events follow contract v1 except that ``ts`` counts seconds from the start of
the replay; the demo adds the wall-clock time when it replays them.

Examples
--------
>>> pieces = tokenize("Email jane.doe@example.com now")
>>> "".join(pieces) == "Email jane.doe@example.com now"
True
>>> len(pieces) > 4
True
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

REPLAY_FILE = Path(__file__).parent / "data" / "sample_streams.jsonl"

_WORDS = re.compile(r"\s*\S+|\s+")

HEALTHY_TEXT = (
    "Streaming lets a client show the answer while the model is still writing it. "
    "Each chunk carries a few characters, and the client appends them as they arrive. "
    "Good streams start fast, keep a steady pace, and end with a clear finish reason, "
    "so the user never waits for a wall of text."
)
LOOP_PREFIX = "Let me check the logs for you. "
LOOP_SPAN = "I will check the logs again to be sure. "
REFUSAL_TEXT = (
    "I'm sorry, but I can't help with that request. If you want, I can explain the general "
    "safety guidelines instead, or point you to official documentation."
)
PII_TEXT = (
    "Sure, the account owner is Jane Doe. You can reach her at jane.doe@example.com or on "
    "+1 415-555-0199, and the card on file is 4111 1111 1111 1111 with expiry 12/29."
)
STALL_TEXT = (
    "Here is the summary of the quarterly report. Revenue grew in every region, "
    "while costs stayed flat. The main driver was the new subscription tier."
)
ABANDONED_TEXT = "Let me think about the best way to structure this migration. First, we"
HICCUP_TEXT = (
    "The deployment finished, and every health check passed on the first try. The new "
    "version serves the same routes, with lower memory use and faster cold starts, and the "
    "old one stays available for a quick rollback if anything looks wrong later today."
)
HANDOFF_TEXT = (
    "I understand this is frustrating. If you prefer, I can transfer you to a human agent "
    "who can review the refund in detail."
)


def tokenize(text: str, max_piece: int = 4) -> list[str]:
    """Split text into BPE-like pieces: words up to ``max_piece`` letters stay whole."""
    pieces: list[str] = []
    for word in _WORDS.findall(text):
        core = word.lstrip()
        lead = word[: len(word) - len(core)]
        if len(core) <= max_piece + 2:
            pieces.append(word)
            continue
        chunks = [core[i : i + max_piece] for i in range(0, len(core), max_piece)]
        pieces.append(lead + chunks[0])
        pieces.extend(chunks[1:])
    return pieces


def stream_events(
    stream_id: str,
    text: str,
    *,
    t0: float,
    rng: random.Random,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    ttft: float = 0.35,
    itl: float = 0.025,
    stall_after: int | None = None,
    stall_seconds: float = 0.0,
    end: bool = True,
    finish_reason: str = "stop",
    gaps: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Contract-v1 events of one stream: start, one delta per piece, then (optionally) end.

    ``gaps`` (seconds, one per piece after the first) replaces the random inter-token latency.
    """
    events: list[dict[str, Any]] = []
    base = {"v": 1, "stream_id": stream_id, "role": "assistant", "model": model,
            "provider": provider}
    events.append({**base, "seq": 0, "ts": round(t0, 6), "kind": "start", "text": ""})
    t = t0 + ttft * rng.uniform(0.7, 1.4)
    pieces = tokenize(text)
    for i, piece in enumerate(pieces):
        if i:
            t += gaps[i - 1] if gaps is not None else rng.lognormvariate(0, 0.35) * itl
        if stall_after is not None and i == stall_after:
            t += stall_seconds
        events.append({**base, "seq": i + 1, "ts": round(t, 6), "kind": "delta", "text": piece,
                       "logprob": round(-abs(rng.gauss(0.3, 0.4)), 4)})
    if end:
        t += itl
        events.append({**base, "seq": len(pieces) + 1, "ts": round(t, 6), "kind": "end",
                       "text": "", "meta": {"finish_reason": finish_reason,
                                            "usage": {"prompt_tokens": 42,
                                                      "completion_tokens": len(pieces)}}})
    return events


def varied_text(words: int, rng: random.Random) -> str:
    """Plausible, never-repeating prose of about ``words`` words (no false repetition loops)."""
    vocabulary = [
        "the", "model", "writes", "each", "answer", "while", "client", "reads", "it", "and",
        "a", "scheduler", "batches", "requests", "across", "many", "users", "so", "latency",
        "moves", "with", "load", "cache", "memory", "pressure", "queue", "depth", "every",
        "token", "arrives", "after", "short", "wait", "that", "depends", "on", "what", "runs",
    ]
    return " ".join(rng.choice(vocabulary) for _ in range(words)) + "."


def periodic_then_chaotic_gaps(periodic: int, chaotic: int) -> list[float]:
    """Inter-token gaps: a period-4 batching rhythm, then gaps driven by the logistic map (r=4).

    A scheduler that interleaves a fixed set of batches gives a periodic rhythm;
    when it saturates, the gaps become deterministic but aperiodic. The mean gap
    stays about 20 ms in both parts, so only the dynamics change.
    """
    rhythm = [0.012, 0.016, 0.020, 0.032]
    gaps = [rhythm[i % 4] for i in range(periodic)]
    x = 0.3141
    for _ in range(chaotic):
        x = 4.0 * x * (1.0 - x)
        gaps.append(0.005 + 0.030 * x)
    return gaps


def hiccup_gaps(count: int, at: int, rng: random.Random, itl: float = 0.025) -> list[float]:
    """Steady gaps with one hiccup at ``at``: a 0.9 s pause, then three tokens in a burst."""
    gaps = [rng.lognormvariate(0, 0.25) * itl for _ in range(count)]
    gaps[at] = 0.9
    gaps[at + 1 : at + 4] = [0.002, 0.002, 0.002]
    return gaps


def demo_streams(t0: float = 0.0, seed: int = 7) -> list[dict[str, Any]]:
    """Make the demo's streams, interleaved by time: one of each kind the demo shows."""
    rng = random.Random(seed)
    streams = [
        stream_events("healthy-1", HEALTHY_TEXT, t0=t0, rng=rng),
        stream_events("loop-1", LOOP_PREFIX + LOOP_SPAN * 8, t0=t0 + 0.4, rng=rng,
                      finish_reason="length"),
        stream_events("refusal-1", REFUSAL_TEXT, t0=t0 + 0.8, rng=rng),
        stream_events("pii-1", PII_TEXT, t0=t0 + 1.2, rng=rng),
        stream_events("stalled-1", STALL_TEXT, t0=t0 + 1.5, rng=rng, stall_after=12,
                      stall_seconds=2.5),
        stream_events("abandoned-1", ABANDONED_TEXT, t0=t0 + 1.9, rng=rng, end=False),
        stream_events("handoff-1", HANDOFF_TEXT, t0=t0 + 2.3, rng=rng, model="llama-3.1-8b",
                      provider="vllm"),
        stream_events("healthy-2", HEALTHY_TEXT, t0=t0 + 2.6, rng=rng, itl=0.015),
        stream_events("hiccup-1", HICCUP_TEXT, t0=t0 + 3.0, rng=rng,
                      gaps=hiccup_gaps(len(tokenize(HICCUP_TEXT)), 30, rng)),
    ]
    chaotic_text = varied_text(520, rng)
    pieces = len(tokenize(chaotic_text))
    streams.append(stream_events("rhythm-1", chaotic_text, t0=t0 + 0.2, rng=rng,
                                 gaps=periodic_then_chaotic_gaps(150, pieces - 151)))
    merged = [e for s in streams for e in s]
    merged.sort(key=lambda e: e["ts"])
    return merged


def write_replay_file(path: Path = REPLAY_FILE) -> None:
    """Write :func:`demo_streams` as JSON lines (the bundled replay file)."""
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in demo_streams()))


def read_replay_file(path: Path = REPLAY_FILE) -> Iterator[dict[str, Any]]:
    """Events of a replay file, in file order."""
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


if __name__ == "__main__":
    write_replay_file()
    print(f"wrote {REPLAY_FILE}")
