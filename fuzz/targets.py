"""One fuzz target per parser or entry point that reads untrusted bytes: the registry.

Each target takes the fuzzer's bytes and feeds them to one real parser. A
target returns normally when the parser accepted the input or rejected it the
documented way (an ``Invalid``/dead letter, or an exception listed in
``allowed``); anything else it raises is a finding. ``fuzz/run.py`` runs the
targets under atheris; ``tests/fuzz/test_fuzz_smoke.py`` runs each briefly in CI.

Examples
--------
>>> sorted(TARGETS)[:3]
['control_event', 'dead_letter', 'feedback_event']
>>> TARGETS["token_event"].run(b'{"v":1}')
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Target:
    """A fuzz target: ``check`` gets the bytes; ``allowed`` are its documented rejections."""

    name: str
    check: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...] = ()
    doc: str = ""

    def run(self, data: bytes) -> None:
        """Feed ``data`` to the target; raise only on a finding."""
        with contextlib.suppress(*self.allowed):
            self.check(data)


TARGETS: dict[str, Target] = {}


def target(name: str, allowed: tuple[type[BaseException], ...] = (), doc: str = ""
           ) -> Callable[[Callable[[bytes], None]], Callable[[bytes], None]]:
    """Register ``check`` as the target ``name``."""

    def register(check: Callable[[bytes], None]) -> Callable[[bytes], None]:
        TARGETS[name] = Target(name, check, allowed, doc)
        return check

    return register


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _checked_contract(parse_name: str, struct_name: str) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        from midstream.core import contracts, events

        parse = getattr(events, parse_name)
        parsed = parse(data)
        struct = getattr(events, struct_name, None) or getattr(contracts, struct_name)
        assert isinstance(parsed, events.Invalid | struct), type(parsed)
        if isinstance(parsed, struct):
            # What is accepted must write and read back as itself.
            assert parse(events.encode(parsed)) == parsed
        else:
            assert parsed.reason and parsed.error

    return check


for _name, _parse, _struct in (
        ("token_event", "parse_token_event", "TokenEvent"),
        ("feedback_event", "parse_feedback_event", "FeedbackEvent"),
        ("control_event", "parse_control_event", "ControlEvent"),
        ("insight", "parse_insight", "Insight"),
        ("dead_letter", "parse_dead_letter", "DeadLetter")):
    TARGETS[_name] = Target(_name, _checked_contract(_parse, _struct),
                            doc=f"midstream.core.events.{_parse}")


@target("media_record", doc="midstream.core.media_events.parse_media_record")
def _media_record(data: bytes) -> None:
    from midstream.core.events import Invalid
    from midstream.core.media_events import MediaRecord, encode_media_record, parse_media_record

    parsed = parse_media_record(data)
    assert isinstance(parsed, Invalid | MediaRecord)
    if isinstance(parsed, MediaRecord):
        assert parse_media_record(encode_media_record(parsed)) == parsed


def _rules_error() -> tuple[type[BaseException], ...]:
    from midstream.core.exceptions import RulesFileError, ShapesFileError

    return RulesFileError, ShapesFileError


@target("rules_file", allowed=_rules_error(), doc="midstream.core.rules_file.parse_rules")
def _rules_file(data: bytes) -> None:
    from midstream.core.rules_file import parse_rules

    parse_rules(_text(data))


@target("shapes_file", allowed=_rules_error(), doc="midstream.core.shapes_file.parse_shapes")
def _shapes_file(data: bytes) -> None:
    from midstream.core.shapes_file import parse_shapes

    parse_shapes(_text(data))


def _outcomes_error() -> tuple[type[BaseException], ...]:
    from midstream.core.exceptions import MidStreamError

    return (MidStreamError,)


@target("outcomes_file", allowed=_outcomes_error(),
        doc="midstream.core.outcomes.parse_outcomes + resolve_feedback")
def _outcomes_file(data: bytes) -> None:
    from midstream.core.events import FeedbackEvent, Invalid
    from midstream.core.outcomes import Label, parse_outcomes, resolve_feedback

    outcomes = parse_outcomes(_text(data))
    # Whatever map was accepted, each of its terms resolves to its own reward and label.
    for name, value in outcomes.items():
        label = resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=0.0, outcome=name),
                                 outcomes)
        assert isinstance(label, Label) and label == (value.reward, value.bad), label
    unknown = resolve_feedback(FeedbackEvent(v=1, stream_id="s", ts=0.0, outcome="z" * 64),
                               outcomes)
    assert isinstance(unknown, Label | Invalid)


def _invalid_offer() -> tuple[type[BaseException], ...]:
    from midstream.connectors.webrtc.exceptions import InvalidOffer

    return (InvalidOffer,)


@target("sdp_offer", allowed=_invalid_offer(), doc="midstream.connectors.webrtc.offer.parse_offer")
def _sdp_offer(data: bytes) -> None:
    from midstream.connectors.webrtc.offer import parse_offer

    # First byte picks the content type and whether a query stream id is given.
    selector, body = (data[0], data[1:]) if data else (0, b"")
    content_type = ("application/json", "application/sdp", "text/plain", "")[selector % 4]
    stream_id = _text(body[:8]) if selector & 4 else None
    parse_offer(body, content_type, stream_id)


@target("gateway_request_body", doc="the gateway's request-body decoding (Gateway._body)")
def _gateway_request_body(data: bytes) -> None:
    from midstream.connectors.openai.gateway.app import decode_body

    body = decode_body(data)
    assert isinstance(body, dict | str)


@target("gateway_upstream_sse", doc="connectors/openai/gateway/sse.py SseSplitter + decoding")
def _gateway_upstream_sse(data: bytes) -> None:
    from midstream.connectors.openai.gateway.responses import ResponsesStream
    from midstream.connectors.openai.gateway.sse import SseSplitter

    splitter = SseSplitter()
    # The upstream's bytes arrive in arbitrary pieces: cut where the data says.
    cut = data[0] if data else 0
    pieces = [data[i:i + 1 + cut] for i in range(0, len(data), 1 + cut)]
    for piece in pieces:
        for event in splitter.feed(piece):
            ResponsesStream._decode(event)


def _construct(kind: str, data: bytes) -> Any:
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk
    from openai.types.responses import ResponseStreamEvent

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    type_: Any = ChatCompletionChunk if kind == "chat" else ResponseStreamEvent
    # How the openai SDK builds stream objects: without validation, as it does.
    return construct_type(type_=type_, value=value)


@target("tap_chat_chunks", doc="connectors/openai/tap/extract.py ChatChunkExtractor")
def _tap_chat_chunks(data: bytes) -> None:
    _tap(data, "chat")


@target("tap_responses_events", doc="connectors/openai/tap/extract.py ResponsesEventExtractor")
def _tap_responses_events(data: bytes) -> None:
    _tap(data, "responses")


def _tap(data: bytes, kind: str) -> None:
    """Feed one SDK object per line to the tap's extractor; check every event it publishes."""
    from midstream.connectors.openai.publisher import TokenPublisher
    from midstream.connectors.openai.tap.extract import (
        ChatChunkExtractor,
        ResponsesEventExtractor,
    )

    publisher = TokenPublisher(None, "t", "s", provider="openai", model=None)
    extractor = (ChatChunkExtractor if kind == "chat" else ResponsesEventExtractor)(publisher)
    for line in data.split(b"\n"):
        item = _construct(kind, line)
        if item is not None:
            extractor.feed(item)
            _published_is_valid(publisher)
    publisher.end(finish_reason=extractor.finish_reason, usage=extractor.usage)
    _published_is_valid(publisher)


def _published_is_valid(publisher: Any) -> None:
    """Check that what the tap published is a valid token event, whatever the SDK handed it."""
    from midstream.core import events

    if publisher.last_event is not None:
        parsed = events.parse_token_event(events.encode(publisher.last_event))
        assert isinstance(parsed, events.TokenEvent), parsed


@target("realtime_frames", doc="connectors/openai/realtime: frame parsing and the session tap, "
                                "both directions")
def _realtime_frames(data: bytes) -> None:
    from prometheus_client import CollectorRegistry

    from midstream.connectors.openai.realtime.server import parse_frame
    from midstream.connectors.openai.realtime.session import SessionTap
    from midstream.core.metrics import RelayMetrics

    session = SessionTap(producer=None, topic="t", connection_id="c",
                              send_upstream=lambda text: None, schedule=lambda call: call(),
                              metrics=_relay_metrics(RelayMetrics, CollectorRegistry))
    for line in data.split(b"\n"):
        client, frame = line[:1] == b"C", line[1:]
        event = parse_frame(_text(frame))
        if event is None:
            continue
        if client:
            session.on_client(event)
        elif session.admit(event):
            session.on_upstream(event)
    session.close()


@functools.cache
def _relay_metrics(metrics: Any, registry: Any) -> Any:
    return metrics(registry())


@target("replay_file", allowed=(), doc="connectors/replay/source.py: the replay file")
def _replay_file(data: bytes) -> None:
    from midstream.connectors.replay.source import ReplaySource

    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as file:
        file.write(data)
    now = [0.0]
    try:
        source = ReplaySource(file.name, speed=1.0, linger=1.0, clock=lambda: now[0])
        part = source.build_part("replay", source.list_parts()[0], None)
        # The clock jumps to each wake-up the source asks for; to the end of time when the
        # wake-up is clamped (a line stamped 1e300 is due after year 9999).
        with contextlib.suppress(StopIteration):
            for _ in range(1_000):
                part.next_batch()
                awake = part.next_awake()
                due = awake.timestamp() if awake is not None else now[0] + 1.0
                now[0] = due if due > now[0] else float("inf")
            raise AssertionError("the replay never ended")
        part.close()
    finally:
        os.unlink(file.name)


@target("llm_flow_message", doc="flows/llm_stream.py: Router + StreamLogic on one Kafka message "
                                 "(key, value) after a valid start")
def _llm_flow_message(data: bytes) -> None:
    _flow_message(data, "llm")


@target("media_flow_message", doc="flows/media.py: Router + MediaLogic on one Kafka message")
def _media_flow_message(data: bytes) -> None:
    _flow_message(data, "media")


def _flow_message(data: bytes, flow: str) -> None:
    from midstream.connectors.kafka import RawMessage
    from midstream.flows.routing import ANALYSIS_ERROR

    split = data.find(b"\x00")
    key, value = (data[:split], data[split + 1:]) if 0 <= split <= 300 else (b"s", data)
    route, make_logic = _flow_parts(flow)
    routed = route(RawMessage(key or None, value, "t", 0, 1))
    if not isinstance(routed, tuple):
        return
    logic = make_logic()
    start = (b'{"v":1,"stream_id":"s","seq":0,"ts":1.0,"kind":"start"}' if flow == "llm" else
             b'{"v":1,"stream_id":"s","seq":0,"ts":1.0,"kind":"status","status":"connected"}')
    stream_key, payload = routed
    logic.on_batch([(stream_key, start, "t", 0, 0, b"s"), payload])
    out, _ = logic.on_batch([payload])
    logic.notify_at()
    logic.on_notify() if logic.state is not None else None
    for message in out:
        # An analysis error is a bug the fuzzer must report, not a reject.
        assert ANALYSIS_ERROR.encode() not in message.value, message.value[:300]


@functools.cache
def _flow_parts(flow: str) -> tuple[Any, Callable[[], Any]]:
    from prometheus_client import CollectorRegistry

    from midstream.core.config import Topics
    from midstream.flows.routing import DeadLetters, Router, stream_finder

    topics = Topics()
    if flow == "llm":
        from midstream.core import events
        from midstream.flows.llm_stream import StreamLogic
        from midstream.flows.stream_analysis import StreamAnalyzer

        analyzer: Any = StreamAnalyzer.with_defaults()
        parse: Any = events.parse_token_event
        limit = analyzer.config.max_event_bytes
        dead = DeadLetters(topics.dlq, analyzer.metrics.dead_letters, lambda: 0.0)
        make: Callable[[], Any] = functools.partial(StreamLogic, analyzer, topics, dead,
                                                    lambda: 5.0, None, False)
    else:
        from midstream.core.media_events import parse_media_record
        from midstream.core.metrics import MediaMetrics
        from midstream.flows.media import MediaLogic
        from midstream.flows.media_analysis import MediaAnalyzer

        analyzer = MediaAnalyzer(metrics=MediaMetrics(CollectorRegistry()))
        parse = parse_media_record
        limit = analyzer.config.max_record_bytes
        dead = DeadLetters(topics.dlq, analyzer.metrics.dead_letters, lambda: 0.0)
        make = functools.partial(MediaLogic, analyzer, topics, dead, lambda: 5.0, None, False)
    return Router(dead, stream_finder(parse, limit)), make


CORPUS = Path(__file__).parent / "corpus"


def seeds(name: str) -> list[bytes]:
    """Return the seed corpus of target ``name`` (``fuzz/corpus/<name>/``)."""
    folder = CORPUS / name
    return [path.read_bytes() for path in sorted(folder.iterdir())] if folder.is_dir() else []

