"""Hold-back delay with a real job, at real model token rates: extra delay per chunk vs direct.

A real broker (the running stack's, ``MIDSTREAM_STACK_DIR``, or a private one),
the real job (``python -m bytewax.run midstream.flows.llm_stream`` on fresh
topics, warmed up until it has decided once), and ``midstream gateway
--fail-closed --brokers ...`` in its own process. The stand-in upstream, in its
own process, paces an answer of 200 chunks at 20, 50 and 100 chunks/s; every
25th chunk starts an email or a phone number split over three chunks, which
the gateway holds until the job's ``redact`` decision (or its decision timeout,
then redacting locally).

The hold per chunk is the gateway's own figure (``midstream_gateway_holdback_seconds``,
read before and after each rate): from a delta's arrival from the upstream to the
release of its last character, so the extra delay the hold-back adds to it. The
wait (``midstream_gateway_holdback_wait_seconds``) is the part of that hold after
the next chunk had arrived: a chunk ending in a word waits for the next one in any
filter that never lets part of a match out (``jane`` may go on with ``.doe@``), so
the hold's median is about one chunk interval by construction, and what asking the
job adds is the wait. Medians and p99s are given as the histogram bucket holding them. For reference,
each chunk's arrival at the client is also compared with a direct run (both from
the stand-in's stamp of chunk 0; redacted spans count as delivered with their
marker), which adds proxying and the difference between two runs' pacing.

    python -m bench.holdback_delay [--rates 20,50,100] [--runs 3] [--brokers HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import time
import urllib.request
from typing import Any

import aiohttp
import numpy as np

from bench.common import broker
from bench.gateway_latency import KEY, UPSTREAM_KEY, start_gateway
from tests.integration.jobs import job_on_fresh_topics

CHUNKS = 200
PII = (("jane", ".doe@exa", "mple.com"), ("call", " 415-555-", "0100"))
WARMUP = (" here", " it", " is:", " sk-ABCDEFGHIJKLMNOPQRSTUV0123456789", " and")
MARKER = re.compile(r"\[redacted:[a-z_]+\]")


def answer() -> tuple[str, ...]:
    """200 pieces of words, with a split email or phone number every 25 pieces."""
    pieces: list[str] = []
    while len(pieces) < CHUNKS:
        if len(pieces) % 25 == 10:
            pii = PII[(len(pieces) // 25) % 2]
            pieces += [" " + pii[0], *pii[1:], " ok"]
        else:
            pieces.append(f" w{len(pieces)}")
    return tuple(pieces[:CHUNKS])


def _standin_process(rates: list[int], port_out: Any, ready: Any) -> None:
    from tests.doubles.openai_upstream.http import Script, StandinUpstream

    scripts = {f"r{rate}": Script(pieces=answer(), pacing=1 / rate, stamp=True)
               for rate in rates}

    async def main() -> None:
        upstream = StandinUpstream(scripts, api_key=UPSTREAM_KEY)
        await upstream.start()
        port_out.value = upstream.port
        ready.set()
        while True:
            upstream.received.clear()
            await asyncio.sleep(1)

    asyncio.run(main())


def _original(delivered: str) -> str:
    """The client's text with each marker put back as the PII it replaced (in order)."""
    spans = iter([p for pii in PII for p in ["".join(pii)]] * CHUNKS)
    return MARKER.sub(lambda _: next(spans), delivered)


async def chunk_times(session: aiohttp.ClientSession, url: str, key: str, model: str
                      ) -> tuple[list[float], float, str]:
    """When each upstream chunk's last character arrived, and the first content frame.

    Returns the arrival times (``time.monotonic``), and the first content frame's
    upstream send time (the stand-in's stamp) and text.
    """
    ends = np.cumsum([len(p) for p in answer()])
    arrivals: list[tuple[float, str]] = []
    first: tuple[float, str] | None = None
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with session.post(url + "/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200, response.status
        buffer = b""
        async for data in response.content.iter_any():
            now = time.monotonic()
            buffer += data
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if not frame.startswith(b"data: {"):
                    continue
                chunk = json.loads(frame[6:])
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        arrivals.append((now, text))
                        if first is None:
                            first = (int(chunk["system_fingerprint"][1:]) / 1e9, text)
    times: list[float] = []
    delivered = ""
    for now, text in arrivals:
        delivered += text
        have = len(_original(delivered)) if "[" in delivered else len(delivered)
        while len(times) < len(ends) and ends[len(times)] <= have:
            times.append(now)
    assert len(times) == len(ends) and first is not None, (len(times), delivered[-200:])
    return times, *first


HOLD = "midstream_gateway_holdback_seconds"
WAIT = "midstream_gateway_holdback_wait_seconds"


def holdback_buckets(url: str, name: str = HOLD) -> dict[float, float]:
    """One of the gateway's hold-back histograms (``HOLD`` or ``WAIT``): le -> count."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics") as response:
        text = response.read().decode()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket"):
            le = float(line.split('le="', 1)[1].split('"', 1)[0])
            out[le] = out.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def quantile(buckets: dict[float, float], q: float) -> tuple[float, float]:
    """The bucket ``(lower, upper]`` holding the ``q`` quantile of a cumulative histogram."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    lower = 0.0
    for le in bounds:
        if buckets[le] >= q * total:
            return lower, le
        lower = le
    return lower, bounds[-1]


Buckets = dict[float, float]


def hold_delays(rates: list[int], url: str, direct: str, runs: int
                ) -> dict[int, tuple[Buckets, Buckets, list[float]]]:
    """Per rate: the gateway's hold and wait per chunk (histograms), each chunk's delay vs direct.

    The hold per chunk is the gateway's own figure: from a delta's arrival from the
    upstream to the release of its last character. The delay vs direct (seconds) is
    the chunk's arrival at the client through the gateway minus in a direct run, both
    from the stand-in's stamp of chunk 0: it adds proxying, but also the difference
    between two runs' pacing, which on a loaded machine is tens of milliseconds.
    """
    pieces = answer()

    def delta(before: Buckets, after: Buckets) -> Buckets:
        return {le: after[le] - before.get(le, 0.0) for le in after}

    async def go() -> dict[int, tuple[Buckets, Buckets, list[float]]]:
        out: dict[int, tuple[Buckets, Buckets, list[float]]] = {}
        async with aiohttp.ClientSession() as session:
            for rate in rates:
                before, before_wait = holdback_buckets(url), holdback_buckets(url, WAIT)
                extra: list[float] = []
                for _ in range(runs):
                    base, sent_d, text_d = await chunk_times(session, direct, UPSTREAM_KEY,
                                                             f"r{rate}")
                    through, sent_g, text_g = await chunk_times(session, url, KEY, f"r{rate}")
                    # Both first frames are the upstream's chunk 0 (through the gateway, its
                    # leading space: the word is held until the next chunk arrives).
                    assert text_d == pieces[0] and pieces[0].startswith(text_g), text_g
                    extra += [(t - sent_g) - (b - sent_d) for t, b in zip(through, base,
                                                                          strict=True)]
                out[rate] = (delta(before, holdback_buckets(url)),
                             delta(before_wait, holdback_buckets(url, WAIT)), extra)
        return out

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,50,100", help="chunks a second, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="streams per rate and target")
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--decision-timeout", default="0.5")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    context = multiprocessing.get_context("spawn")
    port, ready = context.Value("i", 0), context.Event()
    standin = context.Process(target=_standin_process, args=(rates, port, ready), daemon=True)
    standin.start()
    try:
        assert ready.wait(30), "the stand-in did not start"
        direct = f"http://127.0.0.1:{port.value}/v1"
        with broker(args.brokers) as brokers, job_on_fresh_topics(brokers, WARMUP) as topics:
            os.environ.update(topics.to_env())  # the gateway's topics: the job's
            gateway, url = start_gateway(direct, "--fail-closed", "--brokers", brokers,
                                         "--decision-timeout", args.decision_timeout)
            try:
                results = hold_delays(rates, url, direct, args.runs)
                metrics = _decision_counts(url)
            finally:
                gateway.terminate()
                gateway.wait(30)
    finally:
        standin.terminate()
        standin.join(10)
    print(f"real job + gateway --fail-closed --brokers; {CHUNKS} chunks a stream, "
          f"{args.runs} streams per rate, decision timeout {args.decision_timeout} s")
    print(f"{'chunks/s':>8} {'interval ms':>11} {'hold p50 ms':>12} {'hold p99 ms':>13} "
          f"{'wait p50 ms':>12} {'wait p99 ms':>13} {'held':>9} {'vs direct p50 ms':>16} "
          f"{'vs direct p99 ms':>16}")
    met = True
    for rate, (buckets, waits, extra) in results.items():
        total = buckets[max(buckets)]
        held = total - buckets[0.0]
        values = np.asarray(extra) * 1000
        wait_median = quantile(waits, 0.5)[1]
        met = met and wait_median < 1 / rate
        print(f"{rate:>8} {1000 / rate:>11.1f} {_bucket(buckets, 0.5):>12} "
              f"{_bucket(buckets, 0.99):>13} {_bucket(waits, 0.5):>12} {_bucket(waits, 0.99):>13} "
              f"{held:>4.0f}/{total:<4.0f} {np.median(values):>16.1f} "
              f"{np.percentile(values, 99):>16.1f}")
    print(metrics)
    print(f"target: median wait beyond the one-chunk look-ahead under one chunk interval: "
          f"{'MET' if met else 'NOT MET'}")
    return 0


def _bucket(buckets: Buckets, q: float) -> str:
    return "({:g}, {:g}]".format(*(1000 * x for x in quantile(buckets, q)))


def _decision_counts(url: str) -> str:
    """How the held matches were decided: by the job, or locally after the timeout."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics") as response:
        text = response.read().decode()
    wanted = ("midstream_gateway_redactions_total", "midstream_gateway_decision_timeouts_total")
    return "; ".join(line for line in text.splitlines() if line.startswith(wanted))


if __name__ == "__main__":
    raise SystemExit(main())
