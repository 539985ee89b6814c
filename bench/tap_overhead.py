"""Per-chunk cost of the SDK tap on real SDK chunk objects (no network, no producer).

The peer is iterating the same chunks without the tap, in the same run.

    python -m bench.tap_overhead --chunks 20000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator

from openai.types.chat import ChatCompletionChunk

from midstream.connectors.openai.tap import tap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chunk = ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]})
    chunks = [chunk] * args.chunks

    def sync_run(wrapped: bool) -> float:
        started = time.perf_counter()
        for _ in tap(iter(chunks)) if wrapped else iter(chunks):
            pass
        return time.perf_counter() - started

    async def source() -> AsyncIterator[ChatCompletionChunk]:
        for c in chunks:
            yield c

    async def async_run(wrapped: bool) -> float:
        started = time.perf_counter()
        if wrapped:
            async for _ in tap(source()):
                pass
        else:
            async for _ in source():
                pass
        return time.perf_counter() - started

    sync_added, async_added = [], []
    for _ in range(args.repeats):
        sync_added.append(sync_run(True) - sync_run(False))
        async_added.append(asyncio.run(async_run(True)) - asyncio.run(async_run(False)))
    n = args.chunks
    print(f"tap overhead per chunk, median of {args.repeats} (TokenPublisher without producer):")
    print(f"  sync  {statistics.median(sync_added) / n * 1e6:6.2f} µs")
    print(f"  async {statistics.median(async_added) / n * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
