"""A resumable Bytewax source of RTMP and HLS streams: one partition per URL.

Each partition runs a :class:`~midstream.connectors.media.pull.MediaPuller` on its own
thread and hands its feature records to the flow without blocking. The
partition's snapshot is the media time of the last video and audio record the
flow has taken (a :class:`~midstream.connectors.media.pull.PullPosition`), so with
Bytewax recovery a restarted job resumes an HLS playlist (or a file) where
the flow stopped, skipping what it had already analysed. A live RTMP stream
cannot be rewound: after a restart it continues from the live edge, and the
gap shows as a ``dropped``/``connected`` pair.

Examples
--------
>>> source = PullSource([("rtmp://127.0.0.1:1935/live/cam-1", "cam-1"),
...                      ("http://127.0.0.1:8080/hls/door.m3u8", "door")])
>>> source.list_parts()
['cam-1', 'door']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from midstream.connectors.media.options import PullOptions
from midstream.connectors.media.pull import DEFAULT_OPTIONS, MediaPuller, PullPosition
from midstream.connectors.media.source import RecordQueue
from midstream.core.media_events import MediaRecord


class _PullPartition(StatefulSourcePartition[MediaRecord, PullPosition]):
    def __init__(self, url: str, stream_id: str, options: PullOptions,
                 hooks: Sequence[object], resume: PullPosition | None, capacity: int,
                 batch: int) -> None:
        self.records = RecordQueue(capacity)
        self._batch = batch
        self._video = resume.video_pts if resume else None
        self._audio = resume.audio_pts if resume else None
        self.puller = MediaPuller(url, stream_id, self.records.put, options=options,
                                  hooks=hooks)
        if resume is not None:
            self.puller.position = resume
        self.puller.start()

    def next_batch(self) -> list[MediaRecord]:
        out: list[MediaRecord] = self.records.take(self._batch)
        for record in out:
            if record.kind == "video":
                self._video = record.pts
            elif record.kind == "audio":
                self._audio = record.pts
        if not out and self.puller.finished:
            raise StopIteration  # a file or a finished playlist is done
        return out

    def next_awake(self) -> datetime | None:
        return self.records.next_awake()

    def snapshot(self) -> PullPosition:
        # What the flow has taken, not what the puller has decoded: records still in the
        # queue are lost in a crash, so they must be pulled again after a resume.
        return PullPosition(self._video, self._audio)

    def close(self) -> None:
        self.puller.stop()


class PullSource(FixedPartitionedSource[MediaRecord, PullPosition]):
    """Pulls each ``(url, stream id)`` in its own partition.

    Parameters
    ----------
    targets
        ``(url, stream id)`` pairs: ``rtmp://`` URLs, HLS playlists, files.
    options
        How to open and retry (:class:`~midstream.connectors.media.options.PullOptions`).
    hooks_factory
        Per-stream hooks, from the stream id.
    capacity, batch
        Records a partition queues before dropping; most records per batch.
    """

    def __init__(self, targets: Sequence[tuple[str, str]], *,
                 options: PullOptions = DEFAULT_OPTIONS,
                 hooks_factory: Callable[[str], Sequence[object]] = lambda stream_id: (),
                 capacity: int = 10_000, batch: int = 1000) -> None:
        ids = [stream_id for _, stream_id in targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"stream ids must be unique, got {ids}")
        self.targets = dict((stream_id, url) for url, stream_id in targets)
        self.options = options
        self.hooks_factory = hooks_factory
        self.capacity = capacity
        self.batch = batch

    def list_parts(self) -> list[str]:
        """Name one partition per stream id."""
        return list(self.targets)

    def build_part(self, step_id: str, for_part: str,
                   resume_state: PullPosition | None) -> _PullPartition:
        """Make the partition pulling one stream, resuming from ``resume_state`` when given."""
        return _PullPartition(self.targets[for_part], for_part, self.options,
                              self.hooks_factory(for_part), resume_state, self.capacity,
                              self.batch)
