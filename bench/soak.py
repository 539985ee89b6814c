"""Soak: the job at a fixed token rate for minutes, with gateway streams at the same time.

The LLM-stream job (``python -m bytewax.run midstream.flows.llm_stream``, 1
worker, recovery on: ``-r DIR -s 5 -b 30``, partitions made with ``python -m
bytewax.recovery DIR 1``) tails a fresh token topic on the real broker. At the
same time:

* a producer process offers the benchmark workload at ``--rate`` events/s,
  stamping each event's ``ts`` with its send time (as ``bench.decision_latency``);
* ``midstream gateway`` (its own process, ``--brokers``: its tap publishes
  every delta to the same token topic, and its control follower listens) serves
  ``--gateway-streams`` concurrent streaming chat completions from the local
  stand-in upstream, each client starting a new stream when one ends;
* a consumer process records decision latency: control event received minus
  the triggering event's ``ts``.

Every ``--sample-every`` seconds the harness reads the job's VmRSS and VmHWM
from ``/proc`` and its consumer lag (the sum of ``bytewax_kafka_consumer_lag``
on the job's ``/metrics``, ``BYTEWAX_DATAFLOW_API_ENABLED=1``). It prints a
linear fit of RSS and lag over the run after the warm-up (the first 20 %), and
the decision-latency p99 of each window, and writes PNG plots to ``bench/out/``.

    python -m bench.soak --rate 10000 --seconds 600 --gateway-streams 200
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer

from bench import gateway_latency
from bench.common import REPO, broker, fresh_topics, job_env
from bench.decision_latency import LatencyConsumer, wait_until_ready
from bench.workload import interleaved
from midstream.core.config import Topics
from midstream.stack.process import free_port

KEY = gateway_latency.KEY
UPSTREAM_KEY = gateway_latency.UPSTREAM_KEY
OUT = REPO / "bench" / "out"


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_mb: float
    hwm_mb: float
    lag: float  # messages, summed over partitions; nan when not yet reported
    gateway_rss_mb: float


@dataclass
class SoakResult:
    rate: int
    seconds: float
    offered: int = 0
    samples: list[Sample] = field(default_factory=list)
    decisions: list[tuple[float, float]] = field(default_factory=list)  # (t, latency s)
    gateway_streams_done: int = 0
    gateway_streams_failed: int = 0
    gateway_chunks: int = 0
    fit_from: float = 0.0

    def fit(self, attribute: str) -> float:
        """Slope per minute of a least-squares line through ``attribute`` after ``fit_from``."""
        points = [(s.t, getattr(s, attribute)) for s in self.samples
                  if s.t >= self.fit_from and not np.isnan(getattr(s, attribute))]
        if len(points) < 3:
            return float("nan")
        t, y = np.array(points).T
        return float(np.polyfit(t / 60, y, 1)[0])

    def window_p99s(self, window: float) -> list[tuple[float, float, int]]:
        """(window start s, p99 ms, decisions) of each full window of decision latencies."""
        out = []
        for start in np.arange(0, self.seconds - window + 1e-9, window):
            values = [lat for t, lat in self.decisions if start <= t < start + window]
            if values:
                out.append((float(start), float(np.percentile(values, 99)) * 1000, len(values)))
        return out

    def lag_after(self, start: float) -> list[float]:
        return [s.lag for s in self.samples if s.t >= start and not np.isnan(s.lag)]


def _offer(brokers: str, topic: str, rate: int, seconds: float, started_at: float,
           sent_out: Any) -> None:
    """In its own process: the workload at ``rate`` events/s, ``ts`` = send time."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 1,
                         "queue.buffering.max.messages": 1_000_000})
    events = interleaved(int(rate * seconds) + 1, concurrent=max(100, rate // 20), seed=23)
    sent = 0
    while time.time() < started_at:
        time.sleep(0.001)
    start = time.perf_counter()
    for key, value in events:
        due = start + sent / rate
        while (now := time.perf_counter()) < due:
            producer.poll(0)
            time.sleep(min(0.0005, due - now))
        event = orjson.loads(value)
        event["ts"] = time.time()
        producer.produce(topic, orjson.dumps(event), key=key)
        sent += 1
        if sent % 100 == 0:
            producer.poll(0)
    producer.flush(60)
    sent_out.value = sent


def _standin(port_out: Any, ready: Any, chunks: int, pacing: float) -> None:
    from tests.doubles.openai_upstream.http import Script, StandinUpstream

    scripts = {"soak": Script(pieces=tuple(f" word{i}" for i in range(chunks)), pacing=pacing)}

    async def serve() -> None:
        upstream = StandinUpstream(scripts, api_key=UPSTREAM_KEY)
        await upstream.start()
        port_out.value = upstream.port
        ready.set()
        while True:
            upstream.received.clear()  # the stand-in's own record must not grow over a soak
            await asyncio.sleep(1)

    asyncio.run(serve())


def _clients(url: str, streams: int, until: float, results: Any) -> None:
    """In its own process: ``streams`` concurrent clients, each streaming until ``until``."""
    import aiohttp

    done = failed = chunks = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done, failed, chunks
        body = {"model": "soak", "messages": [{"role": "user", "content": "hi"}],
                "stream": True}
        while time.time() < until:
            try:
                async with session.post(url + "/chat/completions", json=body,
                                        headers={"Authorization": f"Bearer {KEY}"}) as response:
                    if response.status != 200:
                        failed += 1
                        await asyncio.sleep(0.5)
                        continue
                    async for data in response.content.iter_any():
                        chunks += data.count(b'"content":"')
                done += 1
            except (TimeoutError, aiohttp.ClientError):
                failed += 1
                await asyncio.sleep(0.5)

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(client(session) for _ in range(streams)))

    asyncio.run(run())
    results.put((done, failed, chunks))


def _memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value, _ = line.split()
                fields[name] = int(value) / 1024
    return fields["VmRSS:"], fields["VmHWM:"]


def consumer_lag(metrics_url: str) -> float:
    """Sum of ``bytewax_kafka_consumer_lag`` over partitions; nan before the first report."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return float("nan")
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("bytewax_kafka_consumer_lag{")]
    return sum(values) if values else float("nan")


def start_gateway(upstream: str, brokers: str, topics: Topics
                  ) -> tuple[subprocess.Popen[str], str]:
    """``midstream gateway`` tapping into ``topics``; returns it and its base URL."""
    saved = dict(os.environ)
    os.environ.update(topics.to_env())
    try:
        return gateway_latency.start_gateway(upstream, "--brokers", brokers)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_soak(brokers: str, *, rate: int, seconds: float, gateway_streams: int,
             gateway_chunks: int = 50, gateway_pacing: float = 0.1,
             sample_every: float = 5.0, partitions: int = 4, warm_up: float = 0.2,
             log: Path | None = None) -> SoakResult:
    """Run the soak against ``brokers``; the job's output goes to ``log`` (or is discarded).

    Fits of RSS and lag start after the first ``warm_up`` share of the run.
    """
    topics = fresh_topics(brokers, partitions)
    result = SoakResult(rate=rate, seconds=seconds, fit_from=warm_up * seconds)
    api_port = free_port()
    with tempfile.TemporaryDirectory(prefix="midstream-soak-") as recovery:
        subprocess.run([sys.executable, "-m", "bytewax.recovery", recovery, "1"], check=True,
                       cwd=REPO)
        env = job_env(brokers, topics, MIDSTREAM_STALL_SECONDS="5",
                      MIDSTREAM_ABANDON_SECONDS="60", BYTEWAX_DATAFLOW_API_ENABLED="1",
                      BYTEWAX_DATAFLOW_API_PORT=str(api_port))
        output = open(log or os.devnull, "w")  # noqa: SIM115 (closed below; never an unread pipe)
        job = subprocess.Popen([sys.executable, "-m", "bytewax.run", "midstream.flows.llm_stream",
                                "-r", recovery, "-s", "5", "-b", "30"],
                               env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        context = multiprocessing.get_context("spawn")
        port = context.Value("i", 0)
        ready = context.Event()
        standin = context.Process(target=_standin,
                                  args=(port, ready, gateway_chunks, gateway_pacing), daemon=True)
        standin.start()
        gateway: subprocess.Popen[str] | None = None
        try:
            if not ready.wait(30):
                raise RuntimeError("the stand-in upstream did not start")
            gateway, url = start_gateway(f"http://127.0.0.1:{port.value}/v1", brokers, topics)
            wait_until_ready(brokers, topics)
            decisions = LatencyConsumer(brokers, topics.control, timed=True)
            started_at = time.time() + 1.0
            sent = context.Value("q", 0)
            producer = context.Process(target=_offer, args=(brokers, topics.tokens, rate,
                                                            seconds, started_at, sent))
            producer.start()
            client_results = context.Queue()
            clients = context.Process(target=_clients, args=(url, gateway_streams,
                                                             started_at + seconds, client_results))
            if gateway_streams:
                clients.start()
            metrics_url = f"http://127.0.0.1:{api_port}/metrics"
            while (now := time.time()) < started_at + seconds + 5:
                if job.poll() is not None:
                    raise RuntimeError(f"the job exited {job.returncode} during the soak")
                rss, hwm = _memory_mb(job.pid)
                gateway_rss, _ = _memory_mb(gateway.pid)
                result.samples.append(Sample(now - started_at, rss, hwm,
                                             consumer_lag(metrics_url), gateway_rss))
                time.sleep(max(0.0, sample_every - (time.time() - now)))
            producer.join(120)
            result.offered = sent.value
            if gateway_streams:
                done, failed, chunks = client_results.get(timeout=180)
                clients.join(30)
                result.gateway_streams_done, result.gateway_streams_failed = done, failed
                result.gateway_chunks = chunks
            time.sleep(2)
            result.decisions = [(t - started_at, latency) for t, latency in decisions.finish()]
        finally:
            if gateway is not None:
                _stop(gateway)
            standin.terminate()
            standin.join(10)
            job.terminate()
            try:
                job.wait(30)
            except subprocess.TimeoutExpired:
                job.kill()
                job.wait()
            output.close()
    return result


def report(result: SoakResult, window: float) -> None:
    """Print the soak's figures."""
    late = result.lag_after(result.fit_from)
    all_latencies = np.array([lat for _, lat in result.decisions]) * 1000
    last = result.samples[-1]
    print(f"offered {result.offered} token events in {result.seconds:.0f} s "
          f"({result.offered / result.seconds:,.0f}/s, target {result.rate:,}); gateway: "
          f"{result.gateway_streams_done} streams done, {result.gateway_streams_failed} failed, "
          f"{result.gateway_chunks} chunks ({result.gateway_chunks / result.seconds:,.0f}/s "
          "tapped into the same topic)")
    print(f"job RSS: last {last.rss_mb:.1f} MB, peak (VmHWM) {last.hwm_mb:.1f} MB; slope after "
          f"{result.fit_from:.0f} s: {result.fit('rss_mb'):+.3f} MB/min (target < 1 MB/min)")
    print(f"gateway RSS: last {last.gateway_rss_mb:.1f} MB; slope after {result.fit_from:.0f} s:"
          f" {result.fit('gateway_rss_mb'):+.3f} MB/min")
    if late:
        print(f"consumer lag after {result.fit_from:.0f} s: mean {np.mean(late):.0f}, max "
              f"{max(late):.0f} messages; slope {result.fit('lag'):+.1f} messages/min")
    else:
        print("consumer lag: not reported by the job")
    print(f"decision latency, whole run: p50 {np.percentile(all_latencies, 50):.2f} ms, p99 "
          f"{np.percentile(all_latencies, 99):.2f} ms, max {all_latencies.max():.1f} ms "
          f"(n={len(all_latencies)})")
    print(f"decision-latency p99 per {window:.0f} s window:")
    for start, p99, n in result.window_p99s(window):
        print(f"  {start:6.0f} s  p99 {p99:8.2f} ms  (n={n})")


def plot(result: SoakResult, window: float, out: Path) -> list[Path]:
    """Write the RSS, lag and decision-latency plots as PNGs; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    minutes = np.array([s.t for s in result.samples]) / 60
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(minutes, [s.rss_mb for s in result.samples], label="job VmRSS")
    ax.plot(minutes, [s.hwm_mb for s in result.samples], label="job VmHWM", linestyle="--")
    fit_t = np.array([s.t for s in result.samples if s.t >= result.fit_from])
    if len(fit_t) >= 3:
        rss = np.array([s.rss_mb for s in result.samples if s.t >= result.fit_from])
        slope, intercept = np.polyfit(fit_t / 60, rss, 1)
        ax.plot(fit_t / 60, slope * fit_t / 60 + intercept, color="black", linewidth=1,
                label=f"fit after warm-up: {slope:+.2f} MB/min")
    ax.set(xlabel="minutes", ylabel="MB", title=f"Job memory at {result.rate:,} events/s")
    ax.legend()
    paths.append(out / "soak_rss.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(minutes, [s.lag for s in result.samples])
    ax.set(xlabel="minutes", ylabel="messages", title="Consumer lag (bytewax_kafka_consumer_lag)")
    paths.append(out / "soak_lag.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    windows = result.window_p99s(window)
    ax.plot([w[0] / 60 for w in windows], [w[1] for w in windows], marker="o",
            label=f"p99 per {window:.0f} s")
    ax.set(xlabel="minutes", ylabel="ms", title="Decision latency (produced -> control consumed)")
    ax.legend()
    paths.append(out / "soak_decision_latency.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--gateway-streams", type=int, default=200)
    parser.add_argument("--gateway-chunks", type=int, default=50,
                        help="chunks per gateway stream (default 50)")
    parser.add_argument("--gateway-pacing", type=float, default=0.1,
                        help="seconds between a gateway stream's chunks (default 0.1)")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=60.0,
                        help="decision-latency p99 window, seconds (default 60)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, shared: job, producer, gateway, stand-in, clients "
          "and the broker all run here")
    args.out.mkdir(parents=True, exist_ok=True)
    with broker(args.brokers) as brokers:
        result = run_soak(brokers, rate=args.rate, seconds=args.seconds,
                          gateway_streams=args.gateway_streams,
                          gateway_chunks=args.gateway_chunks, gateway_pacing=args.gateway_pacing,
                          sample_every=args.sample_every, log=args.out / "soak_job.log")
    report(result, args.window)
    (args.out / "soak_samples.json").write_bytes(orjson.dumps(
        {"samples": [s.__dict__ for s in result.samples], "rate": result.rate,
         "seconds": result.seconds}))
    for path in plot(result, args.window, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
