"""The ``midstream`` command line: demo, local stack, topics and the Kafka job.

Examples
--------
>>> args = _parser().parse_args(["demo", "--speed", "2"])
>>> args.command, args.speed, args.metrics_port
('demo', 2.0, 9464)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from midstream import __version__

_DESCRIPTION = """\
MidStream analyses LLM token streams while they stream: stream health (time to
first token, inter-token latency, stalls, abandoned streams), rule detection
(intents, policies, PII) and repetition loops, with stop/redact decisions
written back to Kafka and metrics for Prometheus.
"""

_EPILOG = """\
commands:
  demo     run the flow on bundled sample streams, no services needed
  stack    start/stop a local Kafka broker and Prometheus (for tests and trying it out)
  topics   create MidStream's Kafka topics
  run      run the LLM-stream job against Kafka in this process, with recovery on
           (same as: python -m bytewax.run midstream.flows.llm_stream -r DIR -s 5 -b 30)
  gateway  an OpenAI-compatible streaming gateway that taps deltas and acts on
           stop/redact decisions (see gateway -h)
  realtime a WebSocket relay for the OpenAI Realtime API that taps text and transcript
           deltas and acts on stop decisions (see realtime -h)

Configuration of `run` comes from MIDSTREAM_* environment variables; see the README.
"""


def _demo(args: argparse.Namespace) -> int:
    from midstream.cli.demo import run_demo
    from midstream.cli.media_demo import run_media_demo

    if not args.media_only:
        run_demo(replay=Path(args.replay), speed=args.speed, metrics_port=args.metrics_port,
                 rules_path=args.rules, shapes_path=args.shapes)
    if not args.no_media:
        run_media_demo(speed=args.speed)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from midstream.connectors.kafka.admin import create_topics
    from midstream.connectors.kafka.exceptions import TopicSetupError
    from midstream.connectors.kafka.settings import ClientSettings
    from midstream.core.config import Topics

    names = Topics.from_env().all()
    kafka = ClientSettings.from_env(brokers=args.brokers)
    try:
        create_topics(kafka, names, partitions=args.partitions)
    except TopicSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"topics ready on {args.brokers}: {', '.join(names)}")
    return 0


def default_recovery_root(env: Mapping[str, str]) -> Path:
    """Where ``midstream run`` keeps recovery snapshots: ``MIDSTREAM_RECOVERY_DIR`` or the default.

    The default is ``$XDG_STATE_HOME/midstream/recovery`` (``~/.local/state/...``
    when ``XDG_STATE_HOME`` is unset); each flow uses a subdirectory of it.

    Examples
    --------
    >>> default_recovery_root({"MIDSTREAM_RECOVERY_DIR": "/var/lib/midstream"}).as_posix()
    '/var/lib/midstream'
    >>> default_recovery_root({"XDG_STATE_HOME": "/srv/state"}).as_posix()
    '/srv/state/midstream/recovery'
    """
    if env.get("MIDSTREAM_RECOVERY_DIR"):
        return Path(env["MIDSTREAM_RECOVERY_DIR"])
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "midstream" / "recovery"


def prepare_recovery_dir(directory: Path, partitions: int) -> bool:
    """Create ``directory`` and its recovery partitions unless they exist; True if created.

    Same as ``python -m bytewax.recovery DIRECTORY PARTITIONS`` on first use.
    Existing partitions are kept as they are: they hold the snapshots to resume from.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = prepare_recovery_dir(Path(d) / "llm", 1)
    ...     again = prepare_recovery_dir(Path(d) / "llm", 1)
    ...     names = sorted(p.name for p in (Path(d) / "llm").iterdir())
    >>> first, again, names
    (True, False, ['part-0.sqlite3'])
    """
    from bytewax.recovery import init_db_dir

    if directory.is_dir() and any(directory.glob("part-*.sqlite3")):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    init_db_dir(directory, partitions)
    return True


def _run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main
    from prometheus_client import start_http_server

    if args.brokers:
        os.environ["MIDSTREAM_BROKERS"] = args.brokers
    recovery = None
    if not args.no_recovery:
        directory = (Path(args.recovery_dir) if args.recovery_dir
                     else default_recovery_root(os.environ) / args.flow)
        if prepare_recovery_dir(directory, args.recovery_partitions):
            logging.getLogger(__name__).info("created %d recovery partition(s) in %s",
                                             args.recovery_partitions, directory)
        recovery = RecoveryConfig(str(directory), timedelta(seconds=args.backup_interval))
        # The flow keeps per-stream snapshots only when it knows recovery is on; `auto`
        # looks for bytewax.run's -r, which this command does not pass.
        if os.environ.get("MIDSTREAM_SNAPSHOTS", "auto").lower() == "auto":
            os.environ["MIDSTREAM_SNAPSHOTS"] = "on"
        logging.getLogger(__name__).info(
            "recovery on: %s, snapshot every %g s, backups kept %g s", directory,
            args.snapshot_interval, args.backup_interval)
    else:
        logging.getLogger(__name__).warning(
            "recovery off (--no-recovery): a restart re-reads from MIDSTREAM_STARTING_OFFSET")

    if args.flow == "media":
        from midstream.flows.media import kafka_flow
    else:
        from midstream.flows.llm_stream import kafka_flow

    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.metrics_host)
    cli_main(kafka_flow(), workers_per_process=1,
             epoch_interval=timedelta(seconds=args.snapshot_interval), recovery_config=recovery)
    return 0


def _ingest(argv: list[str]) -> int:
    from midstream.cli.ingest import run_ingest

    return run_ingest(argv)


def _stack(argv: list[str]) -> int:
    # The development stack runs from a checkout only; the wheel does not ship it.
    try:
        from midstream.stack.command import run_stack_command
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("midstream.stack"):
            raise
        print("midstream stack: the local development stack runs from a clone of the "
              "repository (make stack-up); this installation does not include it. "
              "Point MIDSTREAM_BROKERS at your Kafka cluster instead.", file=sys.stderr)
        return 2
    return run_stack_command(argv)


def _gateway(argv: list[str]) -> int:
    from midstream.cli.gateway import main as gateway_main

    return gateway_main(argv)


def _realtime(argv: list[str]) -> int:
    from midstream.cli.realtime import main as realtime_main

    return realtime_main(argv)


def _parser() -> argparse.ArgumentParser:
    from midstream.cli.sample_streams import REPLAY_FILE

    parser = argparse.ArgumentParser(
        prog="midstream", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"midstream {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the flow on bundled sample streams (no services)")
    demo.add_argument("--replay", default=str(REPLAY_FILE),
                      help="JSON-lines replay file (default: the bundled sample streams)")
    demo.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1)")
    demo.add_argument("--metrics-port", type=int, default=9464,
                      help="serve Prometheus metrics on 127.0.0.1:PORT while running; "
                           "0 turns it off (default 9464)")
    demo.add_argument("--rules", default=None, help="rules file (default: the bundled rules)")
    demo.add_argument("--shapes", default=None,
                      help="shape templates file (default: the bundled shapes)")
    shown = demo.add_mutually_exclusive_group()
    shown.add_argument("--no-media", action="store_true",
                       help="only the LLM streams (skip the synthetic media streams)")
    shown.add_argument("--media-only", action="store_true",
                       help="only the synthetic media streams")
    demo.set_defaults(handler=_demo)

    sub.add_parser("stack", help="local Kafka + Prometheus: up | down | status (see stack -h)",
                   add_help=False)

    sub.add_parser("gateway", help="OpenAI-compatible streaming gateway (see gateway -h)",
                   add_help=False)
    sub.add_parser("realtime", help="Realtime API WebSocket relay (see realtime -h)",
                   add_help=False)

    topics = sub.add_parser("topics",
                            help="create MidStream's topics (names from MIDSTREAM_TOPIC_*)")
    topics.add_argument("--brokers", default=os.environ.get("MIDSTREAM_BROKERS",
                                                            "127.0.0.1:19092"))
    topics.add_argument("--partitions", type=int, default=4)
    topics.set_defaults(handler=_topics)

    sub.add_parser("ingest", help="media in over WebRTC, RTMP, HLS (see ingest -h)",
                   add_help=False)

    run = sub.add_parser("run", help="run the LLM-stream (or media) job against Kafka (1 worker)")
    run.add_argument("--flow", choices=("llm", "media"), default="llm",
                     help="llm: token events in; media: feature records in (default llm)")
    run.add_argument("--brokers", default=None, help="overrides MIDSTREAM_BROKERS")
    run.add_argument("--metrics-port", type=int, default=3030,
                     help="serve Prometheus metrics on this port (default 3030; 0 = off)")
    run.add_argument("--metrics-host", default="127.0.0.1")
    run.add_argument("--recovery-dir", default=None,
                     help="Bytewax recovery directory, created with its partitions if missing "
                          "(default: $MIDSTREAM_RECOVERY_DIR/<flow>, else "
                          "~/.local/state/midstream/recovery/<flow>)")
    run.add_argument("--recovery-partitions", type=int, default=1,
                     help="partitions to create in a new recovery directory (default 1)")
    run.add_argument("-s", "--snapshot-interval", type=float, default=5.0, metavar="SECONDS",
                     help="seconds between recovery snapshots (Bytewax epochs; default 5)")
    run.add_argument("-b", "--backup-interval", type=float, default=30.0, metavar="SECONDS",
                     help="seconds old snapshots are kept (Bytewax -b; default 30)")
    run.add_argument("--no-recovery", action="store_true",
                     help="run without recovery: a restart re-reads from "
                          "MIDSTREAM_STARTING_OFFSET and per-stream state starts empty")
    run.set_defaults(handler=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``midstream`` command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "stack":
        return _stack(argv[1:])
    if argv and argv[0] == "gateway":
        return _gateway(argv[1:])
    if argv and argv[0] == "realtime":
        return _realtime(argv[1:])
    if argv and argv[0] == "ingest":
        return _ingest(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        _parser().print_help()
        return 2
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
