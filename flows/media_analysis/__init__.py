"""Per-stream analysis of media feature records: windows, conditions, drift and regimes.

One module per idea: :mod:`.analyzer` composes them; :mod:`.state` is what a
stream remembers; :mod:`.windows` and :mod:`.fps` summarise media time;
:mod:`.conditions` (freeze, black screen, silence), :mod:`.drift`,
:mod:`.status` and :mod:`.dead_streams` report what happens to the stream;
:mod:`.records` turns findings into insights.

What it finds, as insights (``detector="media"`` unless noted):

* ``audio_window`` / ``video_window``: one summary per event-time tumbling
  window of ``window_seconds`` of media time: speech and silence ratios, level
  and clipping; frames, fps, jitter, luma, motion and black share;
* ``long_silence`` (then ``sound_resumed``): no voice for ``long_silence_seconds``;
* ``freeze`` (then ``unfreeze``): frames keep coming but nothing moves for
  ``freeze_seconds``; ``black_screen`` (then ``picture_resumed``) likewise for black frames;
* ``fps_drop`` (then ``fps_recovered``): a window's fps under ``fps_drop_ratio``
  of the stream's usual fps;
* ``resolution_changed``;
* ``av_drift`` (then ``av_drift_recovered``): the audio and video clocks move
  apart by more than ``av_drift_seconds`` against their relation at the start;
* ``dead`` (then ``revived``): no audio or video record for ``dead_seconds`` of
  wall-clock time (status records, such as a puller's reconnection attempts, don't count);
* ``connected``, ``dropped``, ``reconnecting``, ``ended``, ``error``: the
  connector's status records;
* ``detector="regime"``: the regime of the motion and audio-level series
  (:class:`midstream.flows.series_analysis.SeriesAnalysis`, the same reporting rules as
  for token latencies);
* ``detector="hook"``, ``kind="<hook>/<label>"``: what a per-stream hook found.

Media time is each kind's own clock (``pts``); when it jumps backwards or far
ahead (a reconnect, a new publisher), that kind's windows and conditions start
afresh instead of reporting a bogus gap.

Examples
--------
>>> from midstream.core.media_events import MediaRecord
>>> analyzer = MediaAnalyzer(MediaConfig(freeze_seconds=1.0, regime_window=0))
>>> state = analyzer.new_state("cam")
>>> found = []
>>> for i in range(60):  # 25 fps, moving for 1 s, then still
...     frame = MediaRecord(v=1, stream_id="cam", seq=i, ts=100 + i / 25, kind="video",
...                         pts=i / 25, width=320, height=240, luma=100.0,
...                         motion=5.0 if i < 25 else 0.0, black=False)
...     found += analyzer.on_record(state, frame, now=100 + i / 25)
>>> [(r.kind, r.detail["since_pts"]) for _, r in found]
[('freeze', 1.0)]
"""

from __future__ import annotations

from midstream.core.config import MediaConfig
from midstream.flows.media_analysis.analyzer import MediaAnalyzer
from midstream.flows.media_analysis.state import MediaState, Timeline, Window
from midstream.flows.media_analysis.status import SEVERITY
from midstream.flows.media_analysis.windows import TIMELINE_JUMP_WINDOWS

__all__ = ["SEVERITY", "TIMELINE_JUMP_WINDOWS", "MediaAnalyzer", "MediaConfig", "MediaState",
           "Timeline", "Window"]
