"""A Bytewax sink that prints each output record as one readable line and keeps them.

It takes the same ``KafkaSinkMessage`` items the Kafka sink takes, so the
flow writes to the terminal exactly what it would write to Kafka, and reads
them back with the contract's own parsers (a record that does not parse is
printed as such, never a crash).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import msgspec
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from midstream.core import events

Message = KafkaSinkMessage[Any, bytes]

_COLOURS = {"critical": "\033[31m", "warning": "\033[33m", "info": "\033[36m",
            "control": "\033[35;1m", "dlq": "\033[31;1m"}
_RESET = "\033[0m"

_PARSERS: dict[str, Callable[[bytes], events.Record | events.Invalid]] = {
    "insight": events.parse_insight, "control": events.parse_control_event,
    "dlq": events.parse_dead_letter,
}


def parse_output(topic_kind: str, value: bytes) -> dict[str, Any] | events.Invalid:
    """Read one output message with its contract's struct; the record as plain data.

    Examples
    --------
    >>> parse_output("control", b'{"v":1,"id":"s/stop/x/1","stream_id":"s","ts":1.0,'
    ...              b'"action":"stop","reason":"x","at_seq":1}')["action"]
    'stop'
    >>> parse_output("insight", b'{"v":1}').reason
    'schema'
    """
    parsed = _PARSERS[topic_kind](value)
    if isinstance(parsed, events.Invalid):
        return parsed
    record: dict[str, Any] = msgspec.to_builtins(parsed)
    return record


def format_record(topic_kind: str, record: dict[str, Any], *, colour: bool = False) -> str:
    """One line for one output record.

    Examples
    --------
    >>> format_record("insight", {"stream_id": "s1", "detector": "rules", "kind": "refusal",
    ...               "severity": "warning", "at_seq": 7, "detail": {"token_index": 6}})
    's1            warning  rules/refusal            at token 6'
    """
    if topic_kind == "control":
        span = record.get("span")
        where = f" chars {span['start']}-{span['end']}" if span else ""
        text = (f"{record['stream_id']:<13} CONTROL  {record['action']:<6} "
                f"{record['reason']:<17} at seq {record['at_seq']}{where}")
        tone = "control"
    elif topic_kind == "dlq":
        text = f"{'dead letter':<13} {record['reason']:<8} {record['error']}"
        tone = "dlq"
    else:
        detail = record.get("detail", {})
        name = f"{record['detector']}/{record['kind']}"
        about = _summary(record)
        if "token_index" in detail and record["kind"] not in ("summary", "abandoned"):
            about += f"at token {detail['token_index']}"
        text = f"{record['stream_id']:<13} {record['severity']:<8} {name:<24} {about}"
        tone = record["severity"]
    text = text.rstrip()
    return f"{_COLOURS[tone]}{text}{_RESET}" if colour else text


def _summary(record: dict[str, Any]) -> str:
    d = record.get("detail", {})
    kind = record["kind"]
    if kind in ("summary", "abandoned"):
        ttft = d.get("time_to_first_token_s")
        rate = d.get("tokens_per_second")
        parts = [f"{d.get('tokens', 0)} tokens"]
        if ttft is not None:
            parts.append(f"TTFT {ttft * 1000:.0f} ms")
        if rate is not None:
            parts.append(f"{rate:.0f} tok/s")
        if d.get("stalls"):
            parts.append(f"{d['stalls']} stall(s)")
        if kind == "abandoned":
            parts.append(f"silent {d.get('silent_seconds', 0):.1f} s")
        for det in d.get("detections", []):
            parts.append(f"{det['kind']}@{det['token_index']} lead {det['lead_tokens']}")
        return ", ".join(parts)
    if kind == "stall":
        return f"gap {d.get('gap_seconds', 0):.2f} s{' (live)' if d.get('live') else ''}, "
    detector = record["detector"]
    if detector == "regime" and d.get("series") == "token_ids":
        return f"token ids repeat, period {d.get('period_tokens')} tokens x{d.get('repeats')}, "
    if detector == "regime":
        return (f"{d.get('series')} series {d.get('previous') or 'start'} -> {kind} "
                f"{_scores(d.get('scores', {}))}")
    if detector == "lyapunov":
        value = d.get("value_per_sample")
        shown = "n/a" if value is None else f"{value:+.3f}/sample"
        return (f"{d.get('series')} series LLE {shown} (r2 {d.get('r2')}, "
                f"{'confident' if d.get('confident') else 'not confident'}) ")
    if detector == "shape":
        return (f"{d.get('series')} series matched {d.get('template')!r} "
                f"seq {d.get('start_seq')}-{d.get('end_seq')}, DTW {d.get('distance'):.1f} "
                f"<= {d.get('threshold')}, ")
    if detector in ("media", "hook"):
        return _media_summary(d)
    if "phrase" in d:
        return f"{d['phrase']!r}, "
    if "span" in d:
        return f"chars {d['span'][0]}-{d['span'][1]} (text withheld), "
    return ""


def _media_summary(detail: dict[str, Any]) -> str:
    """``key value`` pairs of a media or hook insight's scalar details.

    >>> _media_summary({"pts": 6.0, "speech_ratio": 0.5, "meta": {"x": 1}, "text": None})
    'pts 6.0, speech_ratio 0.5'
    """
    shown = [f"{key} {value}" for key, value in detail.items()
             if value is not None and isinstance(value, (int, float, str, bool))]
    if isinstance(detail.get("meta"), dict) and "codec" in detail["meta"]:
        shown.append(f"codec {detail['meta']['codec']}")
    return ", ".join(shown[:7])


def _scores(scores: dict[str, Any]) -> str:
    shown = [f"{k} {v:.2f}" for k, v in list(scores.items())[:3] if isinstance(v, float)]
    return f"({', '.join(shown)}) " if shown else ""


class _ConsolePartition(StatelessSinkPartition[Message]):
    def __init__(self, sink: ConsoleSink) -> None:
        self._sink = sink

    def write_batch(self, items: list[Message]) -> None:
        for item in items:
            self._sink.accept(item)


class ConsoleSink(DynamicSink[Message]):
    """Prints records as they arrive and keeps them in ``records`` for a final summary.

    Parameters
    ----------
    kind_of_topic
        Maps a topic name to ``insight``, ``control`` or ``dlq``.
    out
        Where lines go (standard output by default).
    colour
        ANSI colours; defaults to whether ``out`` is a terminal.
    clock
        For the elapsed-time column.
    """

    def __init__(self, kind_of_topic: Callable[[str | None], str], out: TextIO | None = None,
                 colour: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.kind_of_topic = kind_of_topic
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.clock = clock
        self.started = clock()
        self.records: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def accept(self, item: Message) -> None:
        """Print and keep one message."""
        kind = self.kind_of_topic(item.topic)
        record = parse_output(kind, item.value)
        with self._lock:
            elapsed = self.clock() - self.started
            if isinstance(record, events.Invalid):
                line = f"not a valid {kind} record ({record.reason}): {record.error}"
            else:
                self.records.append((kind, record))
                line = format_record(kind, record, colour=self.colour)
            print(f"  +{elapsed:5.2f}s  {line}", file=self.out, flush=True)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ConsolePartition:
        """Make a worker's partition, which hands every item to this sink."""
        return _ConsolePartition(self)
