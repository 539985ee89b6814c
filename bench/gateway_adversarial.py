"""Adversarial answers through the gateway's fail-closed hold-back: worst time per delta, vs prose.

Each answer is 64 KB, streamed by the local stand-in upstream
(tests/doubles/openai_upstream) through a real gateway (``--fail-closed``,
bundled rules, in this process on its own event loop) to the real ``openai``
SDK client, once in 16-character deltas and once as a single 64 KB delta. The
gateway's work on each delta (``HeldText.feed``: hold-back, matching, local
redaction) is timed; the peer row is the same 64 KB of prose. While each
answer streams, a second client reads a paced prose stream through the same
gateway and records its longest gap between chunks: what one answer costs the
other clients (the stand-in paces it at 20 ms).

    python -m bench.gateway_adversarial

Before this change, 40 KB of letters ending in "@" took 76 s through
``--fail-closed`` and stalled another client for 37 s (issue 11).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from midstream.connectors.openai.gateway.held_text import HeldText
from tests.connectors.openai.gateway.servers import Servers
from tests.doubles.openai_upstream.http import Script

SIZE = 65536
PROSE = ("The quarterly report shows steady growth in every region, and the team expects "
         "the trend to continue next year. ")
ANSWERS = {
    "prose (peer)": (PROSE * (SIZE // len(PROSE) + 1))[:SIZE],
    "one letter, then @": "a" * (SIZE - 1) + "@",
    "x@ + a. repeated": ("x@" + "a." * SIZE)[:SIZE],
    "letters and @, no domain": (("a" * 200 + "@") * (SIZE // 201 + 1))[:SIZE],
    "emails that never end": ("jane.doe@mail.example-" * 3000)[:SIZE],
    "digits only": "1" * SIZE,
    "cards failing Luhn": ("4111 1111 1111 1112 " * (SIZE // 20 + 1))[:SIZE],
    "digit, space, repeated": "1 " * (SIZE // 2),
}
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def _pieces(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i:i + size] for i in range(0, len(text), size))


def _timed_feed() -> list[float]:
    durations: list[float] = []
    feed = HeldText.feed

    def timed(self: HeldText, text: str) -> str:
        started = time.perf_counter()
        out = feed(self, text)
        durations.append(time.perf_counter() - started)
        return out

    HeldText.feed = timed  # type: ignore[method-assign]
    return durations


def _bystander(servers: Servers, gaps: list[float], done: threading.Event) -> None:
    """Read paced prose streams until ``done``; record the longest gap between chunks."""
    client = servers.client()
    while not done.is_set():
        last = time.perf_counter()
        for chunk in client.chat.completions.create(model="bystander", messages=MESSAGES,
                                                    stream=True):
            now = time.perf_counter()
            if chunk.choices:
                gaps.append(now - last)
            last = now


def run(chunk: int) -> list[tuple[str, float, float, float, int, int]]:
    scripts = {name: Script(pieces=_pieces(text, chunk)) for name, text in ANSWERS.items()}
    scripts["bystander"] = Script(pieces=tuple(f" w{i}" for i in range(50)), pacing=0.02)
    durations = _timed_feed()
    rows = []
    with Servers(scripts, fail_closed=True) as servers:
        client = servers.client()
        for name, text in ANSWERS.items():
            durations.clear()
            gaps: list[float] = []
            done = threading.Event()
            bystander = threading.Thread(target=_bystander, args=(servers, gaps, done))
            bystander.start()
            time.sleep(0.1)
            gaps.clear()
            started = time.perf_counter()
            got = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model=name, messages=MESSAGES, stream=True) if c.choices)
            total = time.perf_counter() - started
            done.set()
            bystander.join()
            feeds = [d for d in durations if d >= 0]
            rows.append((name, max(feeds) * 1000, sorted(feeds)[len(feeds) // 2] * 1000,
                         total, len(feeds), int(max(gaps, default=0.0) * 1000)))
            assert got.replace("[redacted:", "").strip() or not text.strip()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="16,65536",
                        help="delta sizes in characters, comma-separated")
    args = parser.parse_args(argv)
    print("fail closed, bundled rules, 64 KB answers; gateway work per delta (HeldText.feed)")
    print(f"{'answer':28} {'delta':>6} {'deltas':>6} {'worst ms':>9} {'median ms':>9} "
          f"{'total s':>8} {'bystander max gap ms':>21}")
    for chunk in (int(c) for c in args.chunks.split(",")):
        for name, worst, med, total, count, gap in run(chunk):
            print(f"{name:28} {chunk:>6} {count:>6} {worst:>9.2f} {med:>9.3f} {total:>8.2f} "
                  f"{gap:>21}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
