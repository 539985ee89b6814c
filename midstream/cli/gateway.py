"""``midstream gateway``: run the OpenAI-compatible gateway from the command line.

Examples
--------
>>> args = parser().parse_args(["--upstream", "https://api.openai.com/v1", "--listen", ":9000"])
>>> config_from_args(args, env={"MIDSTREAM_GATEWAY_KEYS": "k1"}).port
9000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from midstream.connectors.openai.gateway.config import (
    DEFAULT_DECISION_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    GatewayConfig,
    from_sources,
)
from midstream.connectors.openai.gateway.exceptions import GatewayConfigError

log = logging.getLogger(__name__)

DESCRIPTION = """\
An OpenAI-compatible streaming gateway. Point your app's OpenAI client at it
(base_url="http://HOST:PORT/v1", api_key=<a gateway client key>) and nothing
else changes: POST /v1/chat/completions (streaming and not), POST /v1/responses
(streaming and not) and GET /v1/models are forwarded to the upstream, and the
chunks come back in the upstream's exact format.

With --brokers, every text delta is published to MidStream's token topic
(contract v1) and the gateway follows the control topic: a `stop` ends the
client's stream cleanly (finish_reason "content_filter", then the usage chunk
if requested, then [DONE]) and cancels the upstream request; a `redact`
replaces the span with "[redacted:<reason>]". To make redaction possible, the
gateway holds back only the shortest suffix of text that could still become a
redaction match (rules file: its `redact` rules). A complete match waits at
most --decision-timeout for the job's decision; then it is released (fail
open, the default) or redacted locally (--fail-closed).
"""

EPILOG = """\
environment:
  MIDSTREAM_GATEWAY_KEYS            client keys, comma-separated (required, or
                                    client_keys in --config); clients send
                                    "Authorization: Bearer <key>"
  MIDSTREAM_UPSTREAM_API_KEY        the key sent to the upstream
  MIDSTREAM_UPSTREAM_API_KEY_FILE   ... or a file holding it (e.g. a mounted secret)
  MIDSTREAM_TOPIC_TOKENS, MIDSTREAM_TOPIC_CONTROL   topic names (defaults
                                    midstream.llm.tokens, midstream.control)
  MIDSTREAM_KAFKA_<SETTING>         extra librdkafka settings (dots as underscores,
                                    e.g. MIDSTREAM_KAFKA_SASL_PASSWORD)

config file (TOML, --config): a [gateway] table with any of client_keys (list,
added to the environment's), provider, rate_per_second, burst, max_body_bytes,
decision_timeout, fail_closed, allow_insecure_upstream, rules_path,
redact_marker, metrics_port, upstream_timeout. Command-line flags win.

security: keys are never logged or echoed; TLS certificates of https upstreams
are always verified; a plain-http upstream must be on the loopback interface
unless --allow-insecure-upstream is given.

metrics: Prometheus text at /metrics on the gateway's port (no key needed), or
on --metrics-port.

example:
  MIDSTREAM_GATEWAY_KEYS=team-a-key MIDSTREAM_UPSTREAM_API_KEY=sk-... \\
    midstream gateway --listen 127.0.0.1:8080 --upstream https://api.openai.com/v1 \\
    --brokers 127.0.0.1:19092
"""


def parser() -> argparse.ArgumentParser:
    """Build the gateway's argument parser."""
    p = argparse.ArgumentParser(prog="midstream gateway", description=DESCRIPTION,
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="where to listen (default 127.0.0.1:8080; port 0 picks a free one)")
    p.add_argument("--upstream", required=True, metavar="URL",
                   help="the upstream's base URL including /v1, e.g. https://api.openai.com/v1 "
                        "or http://127.0.0.1:8000/v1 (vLLM, llama.cpp, Ollama)")
    p.add_argument("--brokers", default=None, metavar="B",
                   help="Kafka bootstrap servers; without it the tap and decisions are off and "
                        "the gateway only proxies")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML config file (see below)")
    p.add_argument("--provider", default=None,
                   help="provider name in token events (default openai)")
    p.add_argument("--rules", default=None, metavar="FILE",
                   help="rules file whose redact rules drive the hold-back (default: bundled)")
    p.add_argument("--decision-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long a held redaction match waits for MidStream's decision "
                        f"(default {DEFAULT_DECISION_TIMEOUT})")
    p.add_argument("--fail-closed", action="store_true", default=None,
                   help="on decision timeout, redact locally instead of releasing the text")
    p.add_argument("--allow-insecure-upstream", action="store_true", default=None,
                   help="allow a plain-http upstream that is not on loopback")
    p.add_argument("--rate", type=float, default=None, metavar="RPS",
                   help="requests per second per client key (default 20)")
    p.add_argument("--burst", type=int, default=None, help="burst per client key (default 40)")
    p.add_argument("--max-body-bytes", type=int, default=None,
                   help=f"largest request body (default {DEFAULT_MAX_BODY_BYTES})")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="also serve /metrics on this port (same host)")
    p.add_argument("--upstream-timeout", type=float, default=None, metavar="SECONDS",
                   help="connect and response-header timeout towards the upstream (default 60)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    return p


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise GatewayConfigError(f"--listen must be HOST:PORT, got {listen!r}") from None


def config_from_args(args: argparse.Namespace, env: Mapping[str, str] = os.environ
                     ) -> GatewayConfig:
    """Combine flags, the config file and the environment (flags win over the file)."""
    host, port = _host_port(args.listen)
    config = from_sources(GatewayConfig(upstream=args.upstream, host=host, port=port),
                          file=args.config, env=env)
    flags = {
        "brokers": args.brokers, "provider": args.provider, "rules_path": args.rules,
        "decision_timeout": args.decision_timeout, "fail_closed": args.fail_closed,
        "allow_insecure_upstream": args.allow_insecure_upstream,
        "rate_per_second": args.rate, "burst": args.burst,
        "max_body_bytes": args.max_body_bytes, "metrics_port": args.metrics_port,
        "upstream_timeout": args.upstream_timeout,
    }
    return dataclasses.replace(config, **{k: v for k, v in flags.items() if v is not None})


async def serve(config: GatewayConfig) -> None:
    """Run the gateway until SIGINT or SIGTERM."""
    from midstream.connectors.openai.gateway.app import Gateway

    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = await gateway.start()
    print(f"midstream gateway on http://{host}:{port}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await gateway.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``midstream gateway``; returns the exit status."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
        asyncio.run(serve(config))
    except GatewayConfigError as exc:
        print(f"midstream gateway: {exc}", file=sys.stderr)
        return 2
    return 0
