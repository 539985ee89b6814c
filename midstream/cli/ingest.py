"""``midstream ingest``: take media in over WebRTC, RTMP and HLS, and turn it into features.

Two ways to run it:

* **Edge** (``--brokers``): decode and measure here, publish the feature
  records to the features topic, and let the media job
  (``midstream run --flow media``) analyse them anywhere. Run as many
  ingest processes as the decoding needs; records are keyed by stream id.
* **All in one** (no ``--brokers``): run the media flow in this process and
  print its insights, so a browser or ``ffmpeg`` can be tried with no service.

Examples
--------
>>> args = ingest_parser().parse_args(["--pull", "cam-1=rtmp://127.0.0.1/live/cam",
...                                    "--pull", "http://127.0.0.1/hls/door.m3u8?k=v",
...                                    "--hook", "dtmf"])
>>> pull_targets(args.pull)
[('rtmp://127.0.0.1/live/cam', 'cam-1'), ('http://127.0.0.1/hls/door.m3u8?k=v', 'door')]
>>> [type(h).__name__ for h in hooks_factory(args)("cam-1")]
['DtmfTranscriber']
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from midstream.connectors.media.features import Emit
from midstream.core.config import Topics

log = logging.getLogger(__name__)

HOOKS = ("dtmf", "objects")


def ingest_parser() -> argparse.ArgumentParser:
    """Build the ``midstream ingest`` options."""
    parser = argparse.ArgumentParser(
        prog="midstream ingest",
        description="Take media in (WebRTC, RTMP, HLS) and turn every frame into feature "
                    "records: published to Kafka with --brokers, else analysed here.")
    parser.add_argument("--webrtc-listen", metavar="HOST:PORT", default=None,
                        help="serve WebRTC signalling (POST /offer) and the sender page (GET /)")
    parser.add_argument("--ice-server", action="append", default=[], metavar="URL",
                        help="STUN/TURN server (stun:host:port, turn:user:pass@host:port); "
                             "repeatable; none by default")
    parser.add_argument("--ice-host-address", action="append", default=[], metavar="ADDR",
                        help="offer this ICE host-candidate address (e.g. 127.0.0.1 on a "
                             "loopback-only machine); repeatable")
    parser.add_argument("--max-peers", type=int, default=32, help="live WebRTC peers at most")
    parser.add_argument("--pull", action="append", default=[], metavar="[STREAM_ID=]URL",
                        help="pull an rtmp:// URL or an HLS playlist (.m3u8); repeatable")
    parser.add_argument("--hook", action="append", default=[], choices=HOOKS,
                        help="per-stream hook: dtmf (touch-tone transcription) or objects "
                             "(moving-object detection); repeatable")
    parser.add_argument("--whisper-model", default=None, metavar="DIR",
                        help="speech-to-text with a local faster-whisper model directory "
                             "(needs the transcribe extra)")
    parser.add_argument("--brokers", default=None,
                        help="publish feature records to Kafka instead of analysing here")
    parser.add_argument("--topic", default=None,
                        help="features topic (default MIDSTREAM_TOPIC_MEDIA or "
                             "midstream.media.features)")
    return parser


def pull_targets(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``(url, stream id)`` per ``--pull [STREAM_ID=]URL``; the id defaults to the URL's name."""
    targets = []
    for spec in specs:
        head, sep, rest = spec.partition("=")
        if sep and "://" not in head and "://" in rest:
            stream_id, url = head, rest
        else:
            stream_id, url = "", spec
        if not stream_id:
            name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
            stream_id = name.removesuffix(".m3u8") or url
        targets.append((url, stream_id))
    return targets


def hooks_factory(args: argparse.Namespace) -> Callable[[str], list[object]]:
    """Make new hook instances for each stream, from ``--hook`` and ``--whisper-model``."""
    from midstream.connectors.media.dtmf_hook import DtmfTranscriber
    from midstream.connectors.media.motion_hook import MovingObjectDetector

    def make(stream_id: str) -> list[object]:
        hooks: list[object] = []
        if "dtmf" in args.hook:
            hooks.append(DtmfTranscriber())
        if "objects" in args.hook:
            hooks.append(MovingObjectDetector())
        if args.whisper_model:
            from midstream.connectors.media.whisper import WhisperTranscriber

            hooks.append(WhisperTranscriber(args.whisper_model))
        return hooks

    return make


class Ingest:
    """The WebRTC server and the pullers of one ``midstream ingest`` process."""

    def __init__(self, args: argparse.Namespace, emit: Emit) -> None:
        self.args = args
        self.emit = emit
        self._stops: list[Callable[[], object]] = []

    def start(self) -> None:
        """Start every source the options name."""
        make_hooks = hooks_factory(self.args)
        if self.args.webrtc_listen:
            self._start_webrtc(make_hooks)
        from midstream.connectors.media.pull import MediaPuller

        for url, stream_id in pull_targets(self.args.pull):
            puller = MediaPuller(url, stream_id, self.emit, hooks=make_hooks(stream_id))
            puller.start()
            self._stops.append(puller.stop)
            log.info("pulling %s as stream %s", url, stream_id)

    def _start_webrtc(self, make_hooks: Callable[[str], list[object]]) -> None:
        from midstream.connectors.webrtc.server import WebRtcIngest

        host, _, port = self.args.webrtc_listen.rpartition(":")
        server = WebRtcIngest(self.emit, host=host or "127.0.0.1", port=int(port),
                              ice_servers=self.args.ice_server,
                              host_addresses=self.args.ice_host_address,
                              max_peers=self.args.max_peers, hooks_factory=make_hooks)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(server.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="webrtc-ingest", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"WebRTC signalling did not start on {self.args.webrtc_listen}")
        print(f"WebRTC: open {server.url}/ in a browser, or POST an SDP offer to "
              f"{server.url}/offer", flush=True)

        def stop() -> None:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

        self._stops.append(stop)

    def stop(self) -> None:
        """Stop every source (each emits its ``ended`` record)."""
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                log.warning("stopping a source failed: %s", exc)
        self._stops.clear()


def run_ingest(argv: Sequence[str]) -> int:
    """Entry point of ``midstream ingest``."""
    args = ingest_parser().parse_args(argv)
    if not args.webrtc_listen and not args.pull:
        print("midstream ingest: nothing to ingest; give --webrtc-listen and/or --pull",
              file=sys.stderr)
        return 2
    if args.brokers:
        return _run_edge(args)
    return _run_all_in_one(args)


def _run_edge(args: argparse.Namespace) -> int:
    from midstream.connectors.media.publisher import KafkaRecordPublisher

    topic = args.topic or Topics.from_env().media
    publisher = KafkaRecordPublisher(args.brokers, topic)
    ingest = Ingest(args, publisher)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    ingest.start()
    print(f"publishing feature records to {topic} on {args.brokers}; Ctrl-C stops",
          flush=True)
    done.wait()
    ingest.stop()
    publisher.close()
    print(f"sent {publisher.sent} records, dropped {publisher.dropped}", flush=True)
    return 0


def _run_all_in_one(args: argparse.Namespace) -> int:
    from bytewax.run import cli_main

    from midstream.connectors.console import ConsoleSink
    from midstream.connectors.media.source import IngestSource
    from midstream.flows.media import build_flow

    topics = Topics.from_env()

    def start(emit: Emit) -> Callable[[], None]:
        ingest = Ingest(args, emit)
        ingest.start()
        return ingest.stop

    kind_of_topic = {topics.insights: "insight", topics.dlq: "dlq"}
    sink = ConsoleSink(lambda t: kind_of_topic.get(t or "", "insight"))
    # Ctrl-C ends the source, so the flow drains and stops its ingest cleanly.
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    cli_main(build_flow(IngestSource(start, finished=stopping.is_set), sink, topics=topics,
                        snapshots=False), workers_per_process=1)
    return 0
