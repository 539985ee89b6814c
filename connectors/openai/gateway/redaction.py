r"""One stream's text on its way to the client: held back only where a redaction could still hit.

:class:`RedactionBuffer` receives the upstream's text deltas and returns, each
time, the text that may go to the client *now*. It releases everything up to
the earliest position where a redaction match starts, complete or partial
(:meth:`midstream.operators.holdback.HoldBack.hold_from`), and holds the rest:

* a **partial** match waits for more text: either it stops matching (released)
  or it completes;
* a **complete** match waits for MidStream's decision. A ``redact`` decision
  carries a span in characters of the stream's whole text (the offsets of the
  published token events); the span, extended to the local match it overlaps
  (the job reports a match as soon as it matches, and an email can still grow),
  is replaced by the marker, ``[redacted:<reason>]`` by default. Text that keeps
  extending a redacted match is swallowed too.
* when no decision comes in time the caller calls :meth:`expire`: fail open
  releases the held text, fail closed redacts the complete matches locally.

Coordinates are characters of the original text; the client's text differs
only by markers.

Examples
--------
>>> from midstream.operators.text_rules import Rule
>>> email = Rule("email", category="pii", action="redact", max_span=254,
...              pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
>>> buffer = RedactionBuffer(HoldBack([email]))
>>> buffer.feed("Mail jane.d"), buffer.feed("oe@example.co"), buffer.feed("m today")
('Mail ', '', '')
>>> buffer.pending_match()
True
>>> buffer.redact(5, 24, "email")      # the job's decision: the span of 'jane.doe@example.co'
'[redacted:email] '
>>> buffer.feed("!")                   # 'today' could have started an email until now
'today!'
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from midstream.operators.holdback import HoldBack

CONTEXT = 64
"""Characters before the unreleased text that the rules see again (look-behinds, word starts)."""


class RedactionBuffer:
    """Holds back the minimal suffix of a stream's text that a redaction could still touch.

    Parameters
    ----------
    holdback
        The redaction rules' hold-back.
    marker
        Replaces each redacted span; ``{reason}`` becomes the rule name.
    on_hold_seconds
        Called once per delta with how long it was held: from its arrival to the
        release of its last character (0.0 when it went out at once). A delta
        that never goes out (the stream was stopped) is not reported.
    on_wait_seconds
        Called with the part of that hold that came after the next delta had
        arrived: the wait for a decision (or a timeout), beyond the one-delta
        look-ahead that any filter which never releases part of a match needs
        (a delta ending in ``jane`` may go on with ``@example.com``). For the
        newest delta, the whole hold.
    clock
        Monotonic seconds.
    """

    def __init__(self, holdback: HoldBack, *, marker: str = "[redacted:{reason}]",
                 on_hold_seconds: Callable[[float], None] | None = None,
                 on_wait_seconds: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if on_wait_seconds is not None and on_hold_seconds is None:
            raise ValueError("on_wait_seconds needs on_hold_seconds")
        self._holdback = holdback
        self._marker = marker
        self._on_hold_seconds = on_hold_seconds
        self._on_wait_seconds = on_wait_seconds
        self._clock = clock
        self.text = ""
        """The stream's whole original text so far."""
        self.released = 0
        """Characters of :attr:`text` already decided (sent, or replaced by a marker)."""
        self.delivered_chars = 0
        """Characters sent to the client (markers included)."""
        self.redactions = 0
        self.withheld: list[tuple[int, int]] = []
        """Spans of :attr:`text` replaced by a marker (or swallowed after one), in order."""
        self.ended = False
        self.stopped = False
        self._decided: list[tuple[int, int, str]] = []
        self._waived_until = 0
        self._growing: int | None = None
        self._arrivals: deque[tuple[int, float]] = deque()
        self._cursors = holdback.cursors()

    @property
    def held(self) -> int:
        """Characters received and not yet released."""
        return len(self.text) - self.released

    def feed(self, delta: str) -> str:
        """Append an upstream delta; return the text the client may have now."""
        self.text += delta
        if self.stopped:
            return ""
        if self._on_hold_seconds is not None:
            self._arrivals.append((len(self.text), self._clock()))
        if self._growing is not None:
            self._swallow()
        return self._done(self._release())

    def redact(self, start: int, end: int, reason: str) -> str | None:
        """Apply a ``redact`` decision for ``[start, end)``; None when it came too late.

        Too late means the whole span had already been released (after a
        fail-open timeout): nothing can be done, the caller logs it.
        """
        if end <= self.released or self.stopped:
            return None
        start = max(start, self.released)
        self._decided.append((start, min(end, len(self.text)), reason))
        self._decided.sort()
        return self._done(self._release())

    def pending_match(self) -> bool:
        """Whether held text contains a complete match that waits for a decision."""
        return bool(self._complete_held())

    def expire(self, fail_closed: bool) -> str:
        """No decision in time: release the held matches, or redact them locally."""
        if self.stopped:
            return ""
        if fail_closed:
            decided = {(s, e) for s, e, _ in self._decided}
            for s, e, name in self._complete_held():
                if (s, e) not in decided:
                    self._decided.append((s, e, name))
            self._decided.sort()
        else:
            self._waived_until = max((e for _, e, _ in self._complete_held()),
                                     default=self.released)
        return self._done(self._release())

    def finish(self) -> str:
        """End the upstream's text: partial matches can no longer complete."""
        self.ended = True
        if self.stopped:
            return ""
        if self._growing is not None:
            self._swallow()
        return self._done(self._release())

    def stop(self) -> None:
        """Stop the stream: nothing more is released."""
        self.stopped = True
        self._done("")

    # -- internals ----------------------------------------------------------------------------

    def _done(self, out: str) -> str:
        self.delivered_chars += len(out)
        arrivals = self._arrivals
        if self.stopped:
            arrivals.clear()
        elif arrivals and arrivals[0][0] <= self.released:
            now = self._clock()
            report, report_wait = self._on_hold_seconds, self._on_wait_seconds
            assert report is not None
            while arrivals and arrivals[0][0] <= self.released:
                arrived = arrivals.popleft()[1]
                report(now - arrived)
                if report_wait is not None:
                    # The next delta's arrival ended the look-ahead; what follows is waiting.
                    looked_ahead = arrivals[0][1] if arrivals else arrived
                    report_wait(max(0.0, now - max(arrived, looked_ahead)))
        return out

    def _complete_held(self) -> list[tuple[int, int, str]]:
        if self.held == 0:
            return []
        return self._holdback.matches(self.text, self.released)

    def _hold_from(self, at: int) -> int:
        if self.ended:
            held = self._complete_held()
            return min((s for s, _, _ in held), default=len(self.text))
        return self._holdback.hold_from(self.text, at, cursors=self._cursors)

    def _extend(self, start: int, end: int) -> int:
        """``end`` grown to the end of the local match overlapping ``[start, end)``."""
        ctx = max(0, start - CONTEXT)
        # No match is longer than the hold-back's span: look no further than that.
        window = self.text[ctx:end + self._holdback.span + CONTEXT]
        for s, e, _ in ((s + ctx, e + ctx, n) for s, e, n in self._holdback.matches(window)):
            if s < end and e > start:
                end = max(end, e)
        return end

    def _withhold(self, start: int, end: int) -> None:
        if self.withheld and self.withheld[-1][1] == start:
            start = self.withheld.pop()[0]
        self.withheld.append((start, end))

    def _swallow(self) -> None:
        """Swallow what a redacted match grew into; stop once it can grow no more.

        A redacted match may still grow after its redaction (``jane@mail.example`` into
        ``jane@mail.example-university.org``, even when the text at the time already
        went on with ``-uni``): everything after it is held while a longer match from
        its start is still possible, and swallowed as far as that match reaches.
        """
        assert self._growing is not None
        start = self._growing
        reach, may_grow = self._holdback.extent(self.text, start, final=self.ended)
        if reach > self.released:
            self._withhold(self.released, reach)
            self.released = reach
        if not may_grow:
            self._growing = None

    def _release(self) -> str:
        out: list[str] = []
        text = self.text
        while True:
            at = self.released
            if self._decided and self._decided[0][0] <= at:
                start, end, reason = self._decided.pop(0)
                end = self._extend(start, end)
                if end > at:
                    out.append(self._marker.format(reason=reason))
                    self.redactions += 1
                    self._withhold(at, end)
                    self.released = end
                    self._growing = start
                    self._swallow()
                continue
            if self._growing is not None:
                return "".join(out)  # the redacted match may still grow into what follows
            limit = self._decided[0][0] if self._decided else len(text)
            held_from = self._hold_from(at)
            stop = min(max(held_from, min(self._waived_until, len(text))), limit)
            if stop > at:
                out.append(text[at:stop])
                self.released = stop
                if stop == held_from and stop < limit:
                    # Held: a match, or the end of what one call checks (a flood of
                    # near-misses); the next delta looks again, so each costs bounded work.
                    return "".join(out)
                continue  # past a waived match, or up to a decided span: look again
            return "".join(out)
