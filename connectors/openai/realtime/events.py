"""Realtime API event names: the GA and the beta spellings, mapped to one set of kinds.

OpenAI renamed several server events when the Realtime API left beta
(DESIGN.md, "OpenAI wire formats"). The relay accepts both spellings and taps
them the same way; it never rewrites the events it passes on.

Examples
--------
>>> KIND["response.output_text.delta"] == KIND["response.text.delta"] == TEXT_DELTA
True
>>> family("response.audio.delta"), family("input_audio_buffer.append"), family("x.y")
('audio', 'input_audio_buffer', 'other')
"""

from __future__ import annotations

TEXT_DELTA = "text_delta"
AUDIO_DELTA = "audio_delta"
TRANSCRIPT_DELTA = "transcript_delta"
RESPONSE_CREATED = "response_created"
RESPONSE_DONE = "response_done"
SESSION = "session"
INPUT_TRANSCRIPT_DELTA = "input_transcript_delta"
INPUT_TRANSCRIPT_COMPLETED = "input_transcript_completed"
SPEECH_STARTED = "speech_started"
SPEECH_STOPPED = "speech_stopped"

KIND: dict[str, str] = {
    # GA name, then the beta name.
    "response.output_text.delta": TEXT_DELTA,
    "response.text.delta": TEXT_DELTA,
    "response.output_audio.delta": AUDIO_DELTA,
    "response.audio.delta": AUDIO_DELTA,
    "response.output_audio_transcript.delta": TRANSCRIPT_DELTA,
    "response.audio_transcript.delta": TRANSCRIPT_DELTA,
    "response.created": RESPONSE_CREATED,
    "response.done": RESPONSE_DONE,
    "session.created": SESSION,
    "session.updated": SESSION,
    "conversation.item.input_audio_transcription.delta": INPUT_TRANSCRIPT_DELTA,
    "conversation.item.input_audio_transcription.completed": INPUT_TRANSCRIPT_COMPLETED,
    "input_audio_buffer.speech_started": SPEECH_STARTED,
    "input_audio_buffer.speech_stopped": SPEECH_STOPPED,
}
"""Server event type -> the kind the relay's tap acts on; other types only pass through."""

DELTA_KINDS = frozenset({TEXT_DELTA, AUDIO_DELTA, TRANSCRIPT_DELTA})
"""Kinds that carry a response's output: suppressed once MidStream stopped that response."""

META_EVENT = {TEXT_DELTA: "output_text", TRANSCRIPT_DELTA: "output_audio_transcript"}
"""``meta["event"]`` of the token events each delta kind becomes."""

_FAMILIES: tuple[tuple[str, str], ...] = (
    # Longest prefixes first: the first match wins.
    ("conversation.item.input_audio_transcription", "input_transcription"),
    ("response.output_audio_transcript", "audio_transcript"),
    ("response.audio_transcript", "audio_transcript"),
    ("response.output_audio", "audio"),
    ("response.audio", "audio"),
    ("response.output_text", "text"),
    ("response.text", "text"),
    ("response.function_call_arguments", "function_call"),
    ("response.", "response"),
    ("input_audio_buffer.", "input_audio_buffer"),
    ("output_audio_buffer.", "output_audio_buffer"),
    ("conversation.", "conversation"),
    ("session.", "session"),
    ("transcription_session.", "session"),
    ("rate_limits.", "rate_limits"),
    ("error", "error"),
)

FAMILIES = tuple(sorted({name for _, name in _FAMILIES} | {"other"}))
"""Every value :func:`family` can return: the bounded ``family`` metric label."""


def family(event_type: str) -> str:
    """Return the bounded family of an event type, for metric labels (unknown types are ``other``)."""
    for prefix, name in _FAMILIES:
        if event_type.startswith(prefix):
            return name
    return "other"
