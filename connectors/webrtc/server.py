"""WebRTC ingest: an aiohttp signalling server whose aiortc peers turn media into feature records.

A sender (a browser on ``GET /``, OBS-style tools, an aiortc script) posts its
SDP offer to ``POST /offer`` and gets the answer back once ICE gathering is
complete (no trickle). Each peer connection is one stream: every frame of its
audio and video tracks goes, decoded, to that stream's
:class:`~midstream.connectors.media.features.FeatureTap`, which emits
:class:`~midstream.core.media_events.MediaRecord` feature records (media timestamps
kept: ``pts`` is ``frame.time``). The connection's life is reported as status
records: ``connected``; ``dropped`` with the reason (ICE/DTLS failed or was
lost, no connection within ``connect_timeout``, no media for
``media_timeout``); ``ended`` (the sender hung up, or the ingest stopped);
``error`` for an offer that was refused.

Scaling out: signalling is per peer and stateless (one offer, one answer, no
shared session state), and each peer's media then flows straight to the
process that answered its offer. So run N ingest processes, each on its own
port (or host), behind any HTTP load balancer for ``POST /offer``; the answer
carries that process's own ICE candidates, so media needs no balancer. The
records are keyed by stream id into Kafka partitions, so the analysis flow
scales independently of the ingest (processes and partitions). Stream ids are
unique per process only: give ids that are unique across the fleet (the
default is a random UUID).

Examples
--------
>>> import asyncio
>>> async def demo():
...     ingest = WebRtcIngest(lambda record: None, host_addresses=("127.0.0.1",))
...     await ingest.start()
...     ok = ingest.url.startswith("http://127.0.0.1:") and ingest.port > 0
...     await ingest.stop()
...     return ok
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import orjson
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from midstream.connectors.webrtc.exceptions import (
    InvalidOffer,
    OfferRejected,
    StreamIdConflict,
    TooManyPeers,
    WebRtcConfigError,
)
from midstream.connectors.webrtc.ice import check_host_addresses, host_addresses, rtc_configuration
from midstream.connectors.webrtc.offer import (
    MAX_OFFER_BYTES,
    parse_offer,
    read_offer_body,
)
from midstream.core.events import MAX_STREAM_ID_CHARS
from midstream.core.media_events import MediaRecord

log = logging.getLogger(__name__)

SOURCE = "webrtc"
REJECTED_STREAM_ID = "webrtc-rejected"
REMEMBERED_STREAM_IDS = 4096  # ended streams whose next ``seq`` is kept for a reconnect
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_MEDIA_TIMEOUT = 5.0
_STATIC = Path(__file__).parent / "static"


class MediaTap(Protocol):
    """What a peer's frames and connection states are handed to (a ``FeatureTap``)."""

    def video(self, frame: av.VideoFrame) -> None:
        """Take one decoded video frame of the peer's video track."""

    def audio(self, frame: av.AudioFrame) -> None:
        """Take one decoded audio frame of the peer's audio track."""

    def status(self, status: str, *, error: str | None = None,
               meta: dict[str, Any] | None = None) -> None:
        """Take a change of the peer's connection state (``connected``, ``dropped``, ...)."""


@dataclass(eq=False)
class _Peer:
    """One peer connection: one stream, its tap, and the tasks reading its tracks."""

    stream_id: str
    pc: RTCPeerConnection
    tap: MediaTap
    remote: str | None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    kinds: list[str] = field(default_factory=list)
    live_tracks: int = 0
    last_frame: float = 0.0  # loop time
    connected: bool = False
    finished: bool = False


class WebRtcIngest:
    """Receives WebRTC peers over HTTP signalling and emits their media's feature records.

    Parameters
    ----------
    emit
        Called with every :class:`~midstream.core.media_events.MediaRecord`, on the event loop
        (a :class:`~midstream.connectors.media.publisher.KafkaRecordPublisher`, or ``list.append``).
    host, port
        Where the signalling server listens (port 0: a free one; see :attr:`port`).
    ice_servers
        STUN/TURN URLs (``stun:host:port``, ``turn:user:pass@host:port``); none by default,
        so no public STUN server is ever contacted.
    host_addresses
        The ICE host-candidate addresses to offer instead of the interface list, e.g.
        ``("127.0.0.1",)`` where peers reach the ingest only over loopback (aioice skips
        127.0.0.1 otherwise; see :mod:`midstream.connectors.webrtc.ice`).
    max_peers
        Live peers at most; more offers get 503.
    hooks_factory
        Per-stream hooks (:mod:`midstream.connectors.media.hooks`), from the stream id.
    clock
        Wall clock for the records' ``ts``.
    tap_factory
        Builds a stream's tap from its id, instead of a ``FeatureTap`` (benchmarks pass one
        that only decodes).
    connect_timeout
        Seconds a peer has, after its answer, to connect before it is dropped.
    media_timeout
        Seconds without any frame, once connected, before a peer is dropped (a sender that
        vanished without hanging up is otherwise only noticed when ICE consent expires,
        about 30 s later).
    max_offer_bytes
        Largest accepted offer body.
    """

    def __init__(self, emit: Callable[[MediaRecord], None], *, host: str = "127.0.0.1",
                 port: int = 0, ice_servers: Sequence[str] = (),
                 host_addresses: Sequence[str] = (), max_peers: int = 32,
                 hooks_factory: Callable[[str], Sequence[object]] | None = None,
                 clock: Callable[[], float] = time.time,
                 tap_factory: Callable[[str], MediaTap] | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
                 max_offer_bytes: int = MAX_OFFER_BYTES) -> None:
        if max_peers < 1:
            raise WebRtcConfigError(f"max_peers must be at least 1, not {max_peers}")
        if connect_timeout <= 0 or media_timeout <= 0:
            raise WebRtcConfigError(f"connect_timeout and media_timeout must be positive, not "
                              f"{connect_timeout} and {media_timeout}")
        self.emit = emit
        self.host = host
        self.port = port
        self.ice_servers = tuple(ice_servers)
        self.host_addresses = check_host_addresses(host_addresses)
        self.max_peers = max_peers
        self.hooks_factory = hooks_factory
        self.clock = clock
        self.tap_factory = tap_factory or self._feature_tap
        self.connect_timeout = connect_timeout
        self.media_timeout = media_timeout
        self.max_offer_bytes = max_offer_bytes
        self._rtc_configuration = rtc_configuration(self.ice_servers)  # validates the URLs
        self._peers: dict[str, _Peer] = {}
        # A stream id that comes back (a reloaded page, a retry after a refusal) continues
        # its record ``seq`` instead of restarting at 0, within this process.
        self._next_seq: OrderedDict[str, int] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self.frame_errors = 0

    def __repr__(self) -> str:
        return (f"WebRtcIngest(listen={self.host}:{self.port}, peers={len(self._peers)}/"
                f"{self.max_peers}, ice_servers={len(self.ice_servers)}, "
                f"host_addresses={self.host_addresses})")

    @property
    def url(self) -> str:
        """The signalling server's base URL (``GET /`` is the sender page)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def stream_ids(self) -> list[str]:
        """The live peers' stream ids."""
        return list(self._peers)

    def _feature_tap(self, stream_id: str) -> MediaTap:
        from midstream.connectors.media.features import FeatureTap

        hooks = self.hooks_factory(stream_id) if self.hooks_factory else ()
        return FeatureTap(stream_id, SOURCE, self.emit, hooks=hooks, clock=self.clock)

    # -- lifecycle ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Build the aiohttp application (``GET /``, ``POST /offer``, ``GET /healthz``)."""
        # The handler reads and limits the body itself (a JSON 400); this is a backstop.
        app = web.Application(client_max_size=self.max_offer_bytes + 1024)
        app.router.add_get("/", self._index)
        app.router.add_post("/offer", self._offer)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self) -> None:
        """Listen for offers; :attr:`port` is then the bound port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port nowhere else
        assert isinstance(server, asyncio.base_events.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("WebRTC ingest listening on %s (ICE servers: %d, host addresses: %s)",
                 self.url, len(self.ice_servers), ",".join(self.host_addresses) or "all")

    async def stop(self) -> None:
        """Close every peer connection (each gets an ``ended`` record), then stop listening."""
        await asyncio.gather(*(self._finish(peer, "ended", reason="the ingest stopped")
                               for peer in list(self._peers.values())))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- HTTP ---------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(_STATIC / "index.html")

    async def _healthz(self, request: web.Request) -> web.Response:
        return _json(200, {"peers": len(self._peers), "max_peers": self.max_peers})

    async def _offer(self, request: web.Request) -> web.Response:
        asked = request.query.get("stream_id")
        try:
            body = await read_offer_body(request, self.max_offer_bytes)
            offer = parse_offer(body, request.content_type, asked,
                                max_bytes=self.max_offer_bytes)
            asked = offer.stream_id or asked
            stream_id = offer.stream_id or str(uuid.uuid4())
            if stream_id in self._peers:
                raise StreamIdConflict(f"stream_id {stream_id!r} is already live on this "
                                       f"ingest; pick another or wait until it ends")
            if len(self._peers) >= self.max_peers:
                raise TooManyPeers(f"this ingest is at its limit of {self.max_peers} peers; "
                                   f"retry later or use another ingest")
            answer = await self._answer(stream_id, offer.sdp, request.remote)
        except OfferRejected as exc:
            if isinstance(exc, InvalidOffer) and exc.stream_id is not None:
                asked = exc.stream_id
            return self._reject(exc, asked)
        return _json(200, {"sdp": answer.sdp, "type": answer.type, "stream_id": stream_id})

    def _reject(self, exc: OfferRejected, asked: str | None) -> web.Response:
        log.warning("offer refused (%d %s): %s", exc.status, exc.type, exc)
        # The record goes under the stream id the sender asked for, unless that id is
        # invalid or belongs to a live peer whose own status must not be muddled.
        stream_id = asked if asked and asked not in self._peers and len(asked) <= \
            MAX_STREAM_ID_CHARS else REJECTED_STREAM_ID
        meta = {"http_status": exc.status, "type": exc.type}
        if stream_id == REJECTED_STREAM_ID and asked:
            meta["stream_id"] = asked[:MAX_STREAM_ID_CHARS]
        try:
            tap = self._tap(stream_id)
            tap.status("error", error=str(exc), meta=meta)
            self._remember_seq(stream_id, tap)
        except Exception:  # an emit that fails must not turn a 400 into a 500
            log.exception("could not emit the error record of a refused offer")
        return _json(exc.status, {"error": {"message": str(exc), "type": exc.type}})

    # -- peers --------------------------------------------------------------------------------

    async def _answer(self, stream_id: str, sdp: str, remote: str | None
                      ) -> RTCSessionDescription:
        pc = RTCPeerConnection(self._rtc_configuration)
        peer = _Peer(stream_id, pc, self._tap(stream_id), remote)
        self._peers[stream_id] = peer  # reserved before the first await: no duplicate ids

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            peer.kinds.append(track.kind)
            peer.live_tracks += 1
            self._spawn(peer, self._consume(peer, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            await self._on_state(peer)

        try:
            with host_addresses(self.host_addresses):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError, KeyError... on SDP it can't use
            peer.finished = True
            self._peers.pop(stream_id, None)
            self._remember_seq(stream_id, peer.tap)
            for task in peer.tasks:
                task.cancel()
            await pc.close()
            raise InvalidOffer(f"the offer could not be used: {type(exc).__name__}: "
                               f"{exc}"[:500]) from None
        if not peer.kinds:
            await self._finish(peer, "ended", reason="no track")
            raise InvalidOffer("the offer has no audio or video track the ingest can receive")
        self._spawn(peer, self._watch(peer))
        log.info("answered stream %s from %s (%s)", stream_id, remote, "+".join(peer.kinds))
        description = pc.localDescription
        assert description is not None
        return description

    def _tap(self, stream_id: str) -> MediaTap:
        """Make a new tap for the stream, continuing the ``seq`` of its earlier records, if any."""
        tap = self.tap_factory(stream_id)
        next_seq = self._next_seq.pop(stream_id, None)
        if next_seq is not None and hasattr(tap, "seq"):
            tap.seq = next_seq
        return tap

    def _remember_seq(self, stream_id: str, tap: MediaTap) -> None:
        seq = getattr(tap, "seq", None)
        if isinstance(seq, int):
            self._next_seq[stream_id] = seq
            self._next_seq.move_to_end(stream_id)
            while len(self._next_seq) > REMEMBERED_STREAM_IDS:
                self._next_seq.popitem(last=False)

    def _spawn(self, peer: _Peer, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        peer.tasks.add(task)
        task.add_done_callback(peer.tasks.discard)

    async def _on_state(self, peer: _Peer) -> None:
        state = peer.pc.connectionState
        if peer.finished:
            return
        if state == "connected" and not peer.connected:
            peer.connected = True
            peer.last_frame = asyncio.get_running_loop().time()
            peer.tap.status("connected", meta={"remote": peer.remote, "tracks": peer.kinds})
        elif state == "failed":
            await self._finish(peer, "dropped", error="the ICE/DTLS connection failed")
        elif state == "closed":
            # Not closed by us (that sets `finished` first). A sender that hangs up ends its
            # tracks first (RTCP BYE); live tracks here mean the connection was lost.
            if peer.live_tracks:
                await self._finish(peer, "dropped", error="the connection was lost with media "
                                   "still flowing (ICE consent expired or DTLS closed)")
            else:
                await self._finish(peer, "ended", reason="the connection closed")

    async def _watch(self, peer: _Peer) -> None:
        """Drop a peer that does not connect in time, or whose media stops while connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while not peer.finished:
            await asyncio.sleep(min(0.5, self.media_timeout / 4))
            now = loop.time()
            if not peer.connected and now >= deadline:
                await self._finish(peer, "dropped", error=f"no connection within "
                                   f"{self.connect_timeout:g} s of the answer (ICE: "
                                   f"{peer.pc.iceConnectionState})")
            elif peer.connected and now - peer.last_frame >= self.media_timeout:
                await self._finish(peer, "dropped", error=f"no media for "
                                   f"{self.media_timeout:g} s: the sender vanished without "
                                   f"hanging up, or its network failed")

    async def _consume(self, peer: _Peer, track: MediaStreamTrack) -> None:
        """Hand every decoded frame of one track to the peer's tap until the track ends."""
        handle: Callable[[Any], None] = peer.tap.video if track.kind == "video" else \
            peer.tap.audio
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            peer.last_frame = asyncio.get_running_loop().time()
            try:
                handle(frame)
            except Exception:  # one bad frame (or a tap bug) must not end the stream
                self.frame_errors += 1
                if self.frame_errors == 1 or self.frame_errors % 1000 == 0:
                    log.exception("stream %s: a %s frame failed (%d so far)", peer.stream_id,
                                  track.kind, self.frame_errors)
        peer.live_tracks -= 1
        if peer.live_tracks == 0 and not peer.finished:
            # The sender stopped its tracks (or sent RTCP BYE): the stream is over.
            self._spawn(peer, self._finish(peer, "ended", reason="the peer's tracks ended"))

    async def _finish(self, peer: _Peer, status: str, *, error: str | None = None,
                      reason: str | None = None) -> None:
        """Report the peer's end once, forget it, and close its connection."""
        if peer.finished:
            return
        peer.finished = True
        if self._peers.get(peer.stream_id) is peer:
            del self._peers[peer.stream_id]
        meta = {"reason": reason} if reason else None
        try:
            peer.tap.status(status, error=error, meta=meta)
        except Exception:
            log.exception("could not emit the %s record of stream %s", status, peer.stream_id)
        self._remember_seq(peer.stream_id, peer.tap)
        log.info("stream %s %s%s", peer.stream_id, status, f": {error or reason}")
        current = asyncio.current_task()
        for task in list(peer.tasks):
            if task is not current:
                task.cancel()
        await peer.pc.close()


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
