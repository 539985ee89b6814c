"""The ``midstream stack up|down|status`` command (also ``python -m midstream.stack``).

Examples
--------
>>> run_stack_command(["status", "--state-dir", "/nonexistent/midstream-doctest"])
no stack recorded in /nonexistent/midstream-doctest
3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from midstream.stack import kafka, prometheus
from midstream.stack.exceptions import StackError
from midstream.stack.lifecycle import stack_down, stack_up
from midstream.stack.paths import STATE_DIR_ENV, resolve_state_dir
from midstream.stack.state import StackState, read_state, state_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
"""``status`` exit code when nothing runs (the LSB convention for "program is not running")."""

_DESCRIPTION = f"""\
Run a local Apache Kafka broker (KRaft, single node, Java 17+) and a Prometheus
server, detached, on 127.0.0.1 only. Their data lives in temporary directories
that `down` deletes. The record of what runs is <state dir>/state.json; the
state dir is ./.stack in the repository unless ${STATE_DIR_ENV} or --state-dir
says otherwise.
"""

_UP_EPILOG = f"""\
defaults: Kafka on 127.0.0.1:{kafka.DEFAULT_PORT} (controller :{kafka.DEFAULT_PORT + 1}),
Prometheus on http://127.0.0.1:{prometheus.DEFAULT_PORT} scraping every 1 s
{" and ".join(prometheus.DEFAULT_TARGETS)} (the Bytewax dataflow API's /metrics and
the demo's metrics endpoint).

examples:
  midstream stack up                     # then: export MIDSTREAM_BROKERS=127.0.0.1:19092
  midstream stack up --kafka-port 0      # free ports; `status` shows which
  midstream stack up --scrape 127.0.0.1:3030 127.0.0.1:3031
  kcat -b 127.0.0.1:19092 -L             # list brokers and topics
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midstream stack",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_state_dir(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="start Kafka and Prometheus and wait until they are ready",
        description="Start the services detached and wait until they are ready. "
        "If a recorded stack is already running, print it and do nothing.",
        epilog=_UP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_state_dir(up, default=argparse.SUPPRESS)
    up.add_argument("--no-prometheus", action="store_true", help="start Kafka only")
    up.add_argument(
        "--kafka-port",
        type=_port,
        default=kafka.DEFAULT_PORT,
        metavar="N",
        help=f"Kafka client port; the controller uses N+1; 0 picks free ports "
        f"(default {kafka.DEFAULT_PORT})",
    )
    up.add_argument(
        "--prometheus-port",
        type=_port,
        default=prometheus.DEFAULT_PORT,
        metavar="N",
        help=f"Prometheus web port; 0 picks a free one (default {prometheus.DEFAULT_PORT})",
    )
    up.add_argument(
        "--scrape",
        nargs="+",
        action="extend",
        metavar="TARGET",
        help="host:port endpoints for Prometheus to scrape, replacing the defaults; "
        "may be repeated",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each service may take to become ready (default 60)",
    )

    down = commands.add_parser(
        "down",
        help="stop the services and delete their data",
        description="Send SIGTERM to each recorded process (SIGKILL after --timeout), "
        "delete their temporary directories and the state file.",
    )
    _add_state_dir(down, default=argparse.SUPPRESS)
    down.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="grace period before SIGKILL (default 30)",
    )

    status = commands.add_parser(
        "status",
        help="show the recorded stack and whether its processes are alive",
        description="Print the recorded stack. Exit code 0: running; "
        f"1: recorded but some process died; {EXIT_NOT_RUNNING}: nothing recorded.",
    )
    _add_state_dir(status, default=argparse.SUPPRESS)
    status.add_argument("--json", action="store_true", help="print state.json plus liveness")
    return parser


def _add_state_dir(parser: argparse.ArgumentParser, default: object) -> None:
    # Accepted before or after the subcommand; SUPPRESS keeps a subparser from
    # overwriting a value given before it.
    parser.add_argument(
        "--state-dir",
        default=default,
        metavar="DIR",
        help=f"where state.json lives (default: ${STATE_DIR_ENV} or <repo>/.stack)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def describe(state: StackState) -> str:
    """Return a short human-readable description of a stack and its liveness."""

    def alive(running: bool) -> str:
        return "running" if running else "DEAD   "

    kafka_state = state.kafka
    lines = [
        f"kafka       {alive(kafka_state.is_running())}  pid {kafka_state.pid:<7}  "
        f"brokers {state.brokers}  (controller :{kafka_state.controller_port})",
        f"            log {kafka_state.log_path}",
    ]
    if state.prometheus is None:
        lines.append("prometheus  not started (--no-prometheus)")
    else:
        server = state.prometheus
        lines += [
            f"prometheus  {alive(server.is_running())}  pid {server.pid:<7}  url {server.url}",
            f"            scrapes {' '.join(server.targets)}",
            f"            log {server.log_path}",
        ]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started_at))
    lines.append(f"started     {started}")
    return "\n".join(lines)


def _up(args: argparse.Namespace) -> int:
    state, started = stack_up(
        args.state_dir,
        kafka_port=args.kafka_port,
        prometheus_port=None if args.no_prometheus else args.prometheus_port,
        scrape_targets=tuple(args.scrape) if args.scrape else prometheus.DEFAULT_TARGETS,
        timeout=args.timeout,
    )
    if not started:
        print("stack already running; options ignored (run `down` first to change them)")
    print(describe(state))
    print(f"state       {state_path(args.state_dir)}")
    return EXIT_OK


def _down(args: argparse.Namespace) -> int:
    state = stack_down(args.state_dir, timeout=args.timeout)
    if state is None:
        print(f"no stack recorded in {resolve_state_dir(args.state_dir)}; nothing to stop")
    else:
        print(f"stopped kafka (pid {state.kafka.pid})", end="")
        if state.prometheus is not None:
            print(f" and prometheus (pid {state.prometheus.pid})", end="")
        print("; data deleted")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    if state is None:
        print(f"no stack recorded in {resolve_state_dir(args.state_dir)}")
        return EXIT_NOT_RUNNING
    running = state.is_running()
    if args.json:
        print(json.dumps({**state.to_json(), "running": running}, indent=2))
    else:
        print(describe(state))
        print(f"state       {state_path(args.state_dir)}")
    return EXIT_OK if running else EXIT_FAILED


def run_stack_command(argv: list[str]) -> int:
    """Run ``stack`` with command-line arguments ``argv`` and return the exit code.

    Parameters
    ----------
    argv
        Arguments after ``stack``, e.g. ``["up", "--no-prometheus"]``.

    Returns
    -------
    int
        0 on success; 1 on failure (the reason goes to stderr); for
        ``status``, 1 also means a recorded process died and 3 that no stack
        is recorded; 2 for a usage error (reported by argparse).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    handlers = {"up": _up, "down": _down, "status": _status}
    try:
        return handlers[args.command](args)
    except StackError as exc:
        print(f"midstream stack {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # `status | head`: the reader left. Silence the flush at interpreter exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
