"""``midstream realtime``: run the Realtime relay (``--listen H:P --upstream URL``).

Secrets come from the environment (or a file), never from the command line:
``MIDSTREAM_GATEWAY_KEYS`` holds the client keys (comma-separated, required),
``MIDSTREAM_UPSTREAM_API_KEY`` the upstream key (or ``--upstream-key-file``).
Topics follow ``MIDSTREAM_TOPIC_<NAME>`` (``midstream.core.config.Topics``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from midstream.connectors.openai.realtime.config import (
    DEFAULT_UPSTREAM,
    RelayConfig,
    RelayConfigError,
    keys_from_env,
    upstream_key_from,
)

log = logging.getLogger(__name__)

DESCRIPTION = """\
A WebSocket relay for OpenAI's Realtime API. Clients connect to
ws://HOST:PORT/v1/realtime?model=... with a MidStream client key
(Authorization: Bearer <key>, or the subprotocol openai-insecure-api-key.<key>);
the relay connects to the upstream with the upstream key and passes every
event both ways unchanged. With --brokers it taps text and audio-transcript
deltas (and audio statistics) into the Kafka token topic, one stream per
response, and follows the control topic: a stop sends response.cancel
upstream, plus conversation.item.truncate when audio was playing.
Prometheus metrics are served at /metrics on the same port.
"""

EPILOG = """\
environment:
  MIDSTREAM_GATEWAY_KEYS      client keys, comma-separated (required)
  MIDSTREAM_UPSTREAM_API_KEY  the upstream's API key (unless --upstream-key-file)
  MIDSTREAM_TOPIC_TOKENS      token topic (default midstream.llm.tokens)
  MIDSTREAM_TOPIC_CONTROL     control topic (default midstream.control)
  MIDSTREAM_KAFKA_<SETTING>   librdkafka settings, as for the job (dots as underscores,
                              e.g. MIDSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_SSL,
                              MIDSTREAM_KAFKA_SASL_PASSWORD)
"""


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    """Build the command line."""
    parser = argparse.ArgumentParser(
        prog="midstream realtime", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8081),
                        metavar="HOST:PORT", help="where to listen (default 127.0.0.1:8081)")
    parser.add_argument("--upstream", default=DEFAULT_UPSTREAM, metavar="URL",
                        help=f"upstream Realtime endpoint (default {DEFAULT_UPSTREAM}); wss://, "
                        "or ws:// on loopback only")
    parser.add_argument("--allow-insecure-upstream", action="store_true",
                        help="accept a plain ws:// upstream that is not on loopback")
    parser.add_argument("--upstream-key-file", metavar="PATH",
                        help="read the upstream key from this file instead of the environment")
    parser.add_argument("--brokers", metavar="HOST:PORT[,...]",
                        help="Kafka bootstrap servers; without it the tap and the control "
                        "follower are off and the relay only relays")
    parser.add_argument("--max-sessions-per-key", type=int, default=16, metavar="N",
                        help="concurrent sessions one client key may hold (default 16; "
                        "more get 429)")
    parser.add_argument("--connections-per-second", type=float, default=5.0, metavar="RATE",
                        help="new connections per second per client key, sustained (default 5)")
    parser.add_argument("--connection-burst", type=int, default=10, metavar="N",
                        help="new connections per client key at once (default 10)")
    parser.add_argument("--max-message-bytes", type=int, default=16 << 20, metavar="BYTES",
                        help="largest WebSocket message relayed either way (default 16 MiB)")
    parser.add_argument("--provider", default="openai",
                        help="provider field of the token events (default openai)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    return parser


async def serve(config: RelayConfig) -> None:
    """Run the relay (with Kafka when configured) until SIGINT or SIGTERM."""
    from midstream.connectors.openai.realtime.kafka_clients import kafka_clients
    from midstream.connectors.openai.realtime.server import RealtimeRelay

    producer, follower = kafka_clients(config)
    if follower is not None:
        follower.start()
    relay = RealtimeRelay(config, producer=producer, follower=follower)
    url = await relay.start()
    log.info("Realtime relay on %s/v1/realtime -> %s (tap %s)", url, config.upstream,
             "on" if producer is not None else "off")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.close()
        if follower is not None:
            follower.stop()
        if producer is not None:
            producer.flush(5)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from midstream.core.config import Topics

    topics = Topics.from_env()
    host, port = args.listen
    try:
        config = RelayConfig(
            upstream=args.upstream, host=host, port=port, client_keys=keys_from_env(),
            upstream_key=upstream_key_from(key_file=args.upstream_key_file),
            brokers=args.brokers, tokens_topic=topics.tokens, control_topic=topics.control,
            provider=args.provider, allow_insecure_upstream=args.allow_insecure_upstream,
            max_sessions_per_key=args.max_sessions_per_key,
            connections_per_second=args.connections_per_second,
            connection_burst=args.connection_burst, max_message_bytes=args.max_message_bytes)
    except RelayConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(config))
    return 0

