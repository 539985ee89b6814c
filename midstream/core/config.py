"""Configuration of the LLM-stream job: topic names, Kafka access and analysis knobs.

Everything has a default and every default can be overridden by an
environment variable, so ``python -m bytewax.run midstream.flows.llm_stream`` needs no
arguments. The README's "Configuration" table lists each variable.

Examples
--------
>>> Topics.from_env({"MIDSTREAM_TOPIC_DLQ": "dead"}).dlq
'dead'
>>> AnalysisConfig.from_env({"MIDSTREAM_STALL_SECONDS": "1.5"}).stall_seconds
1.5
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

BUNDLED_RULES = Path(__file__).parent / "data" / "rules.toml"
EXAMPLE_SHAPES = Path(__file__).parent / "data" / "shapes.toml"


@dataclass(frozen=True)
class Topics:
    """The Kafka topic names, kept in one place."""

    tokens: str = "midstream.llm.tokens"
    insights: str = "midstream.insights"
    control: str = "midstream.control"
    feedback: str = "midstream.feedback"
    dlq: str = "midstream.dlq"
    media: str = "midstream.media.features"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Topics:
        """Read ``MIDSTREAM_TOPIC_<NAME>`` overrides."""
        overrides = {
            f.name: env[f"MIDSTREAM_TOPIC_{f.name.upper()}"]
            for f in fields(cls)
            if f"MIDSTREAM_TOPIC_{f.name.upper()}" in env
        }
        return cls(**overrides)

    def to_env(self) -> dict[str, str]:
        """Return the ``MIDSTREAM_TOPIC_<NAME>`` variables that :meth:`from_env` reads back.

        >>> Topics.from_env(Topics(dlq="dead").to_env()).dlq
        'dead'
        """
        return {f"MIDSTREAM_TOPIC_{f.name.upper()}": getattr(self, f.name) for f in fields(self)}

    def all(self) -> list[str]:
        """Every topic name, for creating them."""
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True)
class KafkaSettings:
    """How the job reaches Kafka.

    ``extra`` holds librdkafka settings (``MIDSTREAM_KAFKA_<SETTING>`` with
    dots as underscores, e.g. ``MIDSTREAM_KAFKA_SASL_PASSWORD``). Its values
    may be secrets, so ``repr`` never shows them.
    """

    brokers: tuple[str, ...] = ("127.0.0.1:19092",)
    starting_offset: str = "earliest"
    tail: bool = True
    batch_size: int = 1000
    poll_ms: float = 2.0
    """After a batch smaller than ``batch_size``, wait this long before polling the partition again."""
    extra: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        hidden = ", ".join(f"{k}=***" for k, _ in self.extra)
        return (
            f"KafkaSettings(brokers={self.brokers!r}, starting_offset={self.starting_offset!r},"
            f" tail={self.tail!r}, batch_size={self.batch_size!r}, poll_ms={self.poll_ms!r},"
            f" extra=[{hidden}])"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> KafkaSettings:
        """Read ``MIDSTREAM_BROKERS``, ``MIDSTREAM_STARTING_OFFSET``, ``MIDSTREAM_TAIL``..."""
        reserved = {"MIDSTREAM_KAFKA_BATCH_SIZE", "MIDSTREAM_KAFKA_POLL_MS"}
        extra = tuple(
            sorted(
                (name[len("MIDSTREAM_KAFKA_") :].lower().replace("_", "."), value)
                for name, value in env.items()
                if name.startswith("MIDSTREAM_KAFKA_") and name not in reserved
            )
        )
        return cls(
            brokers=tuple(env.get("MIDSTREAM_BROKERS", "127.0.0.1:19092").split(",")),
            starting_offset=env.get("MIDSTREAM_STARTING_OFFSET", "earliest"),
            tail=env.get("MIDSTREAM_TAIL", "true").lower() not in ("0", "false", "no"),
            batch_size=int(env.get("MIDSTREAM_KAFKA_BATCH_SIZE", "1000")),
            poll_ms=float(env.get("MIDSTREAM_KAFKA_POLL_MS", "2")),
            extra=extra,
        )


@dataclass(frozen=True)
class AnalysisConfig:
    """Per-stream analysis knobs. Times are in seconds."""

    stall_seconds: float = 2.0
    """A gap between tokens longer than this is a stall."""
    abandon_seconds: float = 30.0
    """A stream with no event for this long (and no ``end``) is abandoned."""
    ended_grace_seconds: float = 10.0
    """How long an ended stream's state is kept to absorb late duplicates."""
    max_event_bytes: int = 64 * 1024
    """Larger messages go to the dead-letter topic as ``oversize``."""
    rules_path: str = str(BUNDLED_RULES)
    """The rules file (TOML). The bundled one covers refusals, apologies, handoffs and PII."""
    loop_max_period: int = 64
    """Longest repeated span, in tokens, the loop detector looks for."""
    loop_min_repeats: int = 3
    """How many back-to-back copies of a span make a loop."""
    loop_min_tokens: int = 24
    """A loop must cover at least this many tokens (guards short periods like 'ha ha')."""
    loop_action: str = "stop"
    """Control action for a detected loop: ``stop``, ``flag`` or ``none``."""
    shapes_path: str = ""
    """Event-shape templates (TOML) matched with SPRING over each stream's series.

    None by default: templates are yours to define, and each costs about 1.5 µs per
    token. ``EXAMPLE_SHAPES`` (the demo's) shows the format.
    """
    regime_window: int = 48
    """Samples the sliding regime classifier sees (inter-token latency, logprob); 0 = off."""
    regime_every: int = 4
    """The regime is re-classified every this many samples."""
    regime_confirm: int = 2
    """Refreshes in a row a new regime verdict must hold before it is reported."""
    lyapunov_window: int = 300
    """Samples the sliding Lyapunov estimate sees; 0 = off."""
    lyapunov_every: int = 100
    """The Lyapunov exponent is re-estimated every this many samples."""
    lyapunov_emb_dim: int = 3
    """Embedding dimension of the sliding Lyapunov estimate; 0 = Cao's method per window."""
    state_shards: int = 256
    """Streams' state is held under this many Bytewax keys (``midstream.flows.shards``); 0 = one
    key per stream. Changing it needs a fresh recovery directory."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AnalysisConfig:
        """Read ``MIDSTREAM_<FIELD>`` overrides (upper-case field names)."""
        mapping = {
            "stall_seconds": "MIDSTREAM_STALL_SECONDS",
            "abandon_seconds": "MIDSTREAM_ABANDON_SECONDS",
            "ended_grace_seconds": "MIDSTREAM_ENDED_GRACE_SECONDS",
            "max_event_bytes": "MIDSTREAM_MAX_EVENT_BYTES",
            "rules_path": "MIDSTREAM_RULES",
            "loop_max_period": "MIDSTREAM_LOOP_MAX_PERIOD",
            "loop_min_repeats": "MIDSTREAM_LOOP_MIN_REPEATS",
            "loop_min_tokens": "MIDSTREAM_LOOP_MIN_TOKENS",
            "loop_action": "MIDSTREAM_LOOP_ACTION",
            "shapes_path": "MIDSTREAM_SHAPES",
            "regime_window": "MIDSTREAM_REGIME_WINDOW",
            "regime_every": "MIDSTREAM_REGIME_EVERY",
            "regime_confirm": "MIDSTREAM_REGIME_CONFIRM",
            "lyapunov_window": "MIDSTREAM_LYAPUNOV_WINDOW",
            "lyapunov_every": "MIDSTREAM_LYAPUNOV_EVERY",
            "lyapunov_emb_dim": "MIDSTREAM_LYAPUNOV_EMB_DIM",
            "state_shards": "MIDSTREAM_STATE_SHARDS",
        }
        overrides: dict[str, object] = {}
        for f in fields(cls):
            name = mapping[f.name]
            if name in env:
                default = f.default
                overrides[f.name] = type(default)(env[name])  # type: ignore[misc]
        return cls(**overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MediaConfig:
    """Knobs of the media flow (``flows/media.py``). Times are in seconds.

    Windows, silences and freezes are measured in media time (the frames' own
    timestamps); a dead stream, which sends nothing, in wall-clock time.

    >>> MediaConfig.from_env({"MIDSTREAM_MEDIA_FREEZE_SECONDS": "3"}).freeze_seconds
    3.0
    """

    window_seconds: float = 5.0
    """Event-time tumbling window of the speech/silence ratios and the fps summary."""
    long_silence_seconds: float = 3.0
    """No voice for this long is a ``long_silence``."""
    freeze_seconds: float = 2.0
    """No motion for this long while frames keep arriving is a ``freeze``."""
    freeze_motion: float = 0.1
    """Motion (mean absolute luma difference, 0-255) at or below this is no motion."""
    black_seconds: float = 2.0
    """Black frames for this long are a ``black_screen``."""
    dead_seconds: float = 5.0
    """No audio or video record for this long (wall clock) is a ``dead`` stream."""
    fps_drop_ratio: float = 0.6
    """A window whose fps falls below this share of the stream's usual fps is an ``fps_drop``."""
    av_drift_seconds: float = 0.2
    """Audio and video clocks moving apart by more than this is ``av_drift``."""
    regime_window: int = 64
    """Samples of a feature series (motion, audio level) the regime classifier sees; 0 = off."""
    regime_every: int = 16
    """The regime is re-classified every this many samples."""
    max_record_bytes: int = 16 * 1024
    """Larger feature records go to the dead-letter topic as ``oversize``."""
    forget_seconds: float = 60.0
    """A dead or ended stream's state is dropped after this long without records."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MediaConfig:
        """Read ``MIDSTREAM_MEDIA_<FIELD>`` overrides (upper-case field names)."""
        overrides: dict[str, object] = {}
        for f in fields(cls):
            name = f"MIDSTREAM_MEDIA_{f.name.upper()}"
            if name in env:
                overrides[f.name] = type(f.default)(env[name])  # type: ignore[misc]
        return cls(**overrides)  # type: ignore[arg-type]
