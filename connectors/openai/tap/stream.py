"""The tapped stream: the SDK's stream, unchanged, with its deltas published and a stop signal.

:func:`tap` wraps what ``client.chat.completions.create(stream=True)`` or
``client.responses.create(stream=True)`` returns, sync (``openai.Stream``) or
async (``openai.AsyncStream``). Iterating the wrapper yields the very same
objects the SDK yields. Each item is published to Kafka (contract v1) before
it is handed to the app; publishing never blocks (see
:class:`~midstream.connectors.openai.publisher.TokenPublisher`).

Acting mid-stream: with a :class:`~midstream.connectors.openai.control.ControlFollower`,
a ``stop`` decision for this stream sets :attr:`TappedStream.stopped`. The
next step of the iteration then ends cleanly (no exception) and the SDK
stream is closed, which closes the HTTP connection so that the upstream stops
generating. The async wrapper does not even wait for the next chunk: the stop
interrupts a pending read. The sync wrapper notices the stop when the next
chunk arrives (or at once, if the app checks :attr:`~TappedStream.stopped`
itself). ``redact`` and ``flag`` decisions cannot change objects the app
already holds; they are collected in :attr:`~TappedStream.decisions` for the
app to act on.

Stream events: ``start`` when :func:`tap` is called (the SDK returns the
stream once the response headers arrived), one ``delta`` per piece of text,
and ``end`` with ``finish_reason`` and ``usage`` when the stream is exhausted.
A stopped stream ends with ``finish_reason: "cancelled"`` and
``meta.stop_reason``; an SDK error with ``finish_reason: "error"``; a stream
the app closes early with ``finish_reason: "abandoned"``.

Examples
--------
Tapping a Chat Completions stream, with a shared producer and the control
topic (it needs an OpenAI-compatible server and Kafka, so it is not run as a
doctest)::

    import openai
    from midstream.connectors.kafka import ClientSettings, make_producer
    from midstream.connectors.openai.control import ControlFollower
    from midstream.connectors.openai.tap import tap

    kafka = ClientSettings.from_env()   # MIDSTREAM_BROKERS, MIDSTREAM_KAFKA_* credentials
    producer = make_producer(kafka)
    follower = ControlFollower(kafka, "midstream.control")
    follower.start()
    client = openai.OpenAI()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
        stream=True, stream_options={"include_usage": True})
    with tap(stream, producer=producer, follower=follower, stream_id="chat-42") as chunks:
        for chunk in chunks:            # the SDK's own ChatCompletionChunk objects
            if chunk.choices:
                print(chunk.choices[0].delta.content or "", end="")
    if chunks.stopped:                  # MidStream stopped it: the HTTP stream is closed
        print(f"[stopped: {chunks.stop_reason}]")

The async form is the same with ``openai.AsyncOpenAI``, ``async with`` and
``async for``; ``await chunks.wait_stopped()`` waits for a stop from another task.

Without Kafka the tap still works and counts (``producer=None``):

>>> from types import SimpleNamespace as NS
>>> delta = NS(content="Hi", refusal=None, tool_calls=None)
>>> chunk = NS(id="c1", model="m", usage=None,
...            choices=[NS(index=0, delta=delta, finish_reason="stop", logprobs=None)])
>>> tapped = tap(iter([chunk]), stream_id="chat-1")
>>> [c is chunk for c in tapped], tapped.publisher.deltas, tapped.finish_reason
([True], 1, 'stop')
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from confluent_kafka import Producer

from midstream.connectors.kafka.clients import make_producer
from midstream.connectors.kafka.settings import ClientSettings, client_settings
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.publisher import TokenPublisher
from midstream.connectors.openai.tap.extract import Extractor, extractor_for

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TOPIC = "midstream.llm.tokens"
OWNED_PRODUCER_FLUSH_SECONDS = 5.0
"""How long a producer the tap made itself is flushed when the stream ends."""


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _TapCore:
    """What the sync and async wrappers share: publishing, the stop signal, the ending."""

    def __init__(self, publisher: TokenPublisher, follower: ControlFollower | None,
                 owned_producer: Producer | None) -> None:
        self.publisher = publisher
        self.stream_id = publisher.stream_id
        self.stop_event = threading.Event()
        """Set when the stream is to stop: a control ``stop`` arrived or :meth:`stop` was called."""
        self.stop_reason: str | None = None
        """The ``reason`` of the stop decision (None while not stopped)."""
        self.decisions: list[dict[str, Any]] = []
        """Every control record received for this stream (stop, redact, flag), in order."""
        self.finish_reason: str | None = None
        """Set once the stream has ended: the provider's, or cancelled / error / abandoned."""
        self._extractor: Extractor | None = None
        self._follower = follower
        self._owned_producer = owned_producer
        self._ended = False
        publisher.start(meta={"source": "tap"})
        if follower is not None:
            follower.register(self.stream_id, self._on_control)

    @property
    def stopped(self) -> bool:
        """True once a stop was requested (by MidStream's control topic or :meth:`stop`)."""
        return self.stop_event.is_set()

    def stop(self, reason: str = "app") -> None:
        """Request a stop: iteration ends at its next step and the SDK stream is closed."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()
            self._wake()

    def _wake(self) -> None:
        """Interrupt a pending read (the async wrapper overrides this)."""

    def _on_control(self, record: dict[str, Any]) -> None:
        # Called from the follower's thread.
        self.decisions.append(record)
        if record.get("action") == "stop":
            self.stop(str(record.get("reason") or "stop"))

    def _feed(self, item: Any) -> None:
        extractor = self._extractor
        if extractor is None:
            extractor = self._extractor = extractor_for(item, self.publisher)
        extractor.feed(item)

    def _finish(self, finish_reason: str | None, meta: dict[str, Any] | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        extractor = self._extractor
        usage = None
        extra: dict[str, Any] = dict(meta or {})
        if extractor is not None:
            usage = extractor.usage
            if finish_reason is None:
                finish_reason = extractor.finish_reason
            if extractor.response_id is not None:
                extra["response_id"] = extractor.response_id
            extra["api"] = extractor.api
        self.finish_reason = finish_reason
        self.publisher.end(finish_reason=finish_reason, usage=usage, meta=extra or None)
        if self._follower is not None:
            self._follower.unregister(self.stream_id, delivered_chars=self.publisher.chars)
        if self._owned_producer is not None:
            self._owned_producer.flush(OWNED_PRODUCER_FLUSH_SECONDS)

    def _stopped_meta(self) -> dict[str, Any]:
        return {"stopped_by": "midstream" if self.decisions else "app",
                "stop_reason": self.stop_reason}


class TappedStream(_TapCore, Generic[T]):
    """A sync SDK stream with its deltas published; iterate it like the SDK stream.

    Attribute access falls through to the wrapped stream (``.response`` and so on).
    """

    def __init__(self, stream: Iterable[T], publisher: TokenPublisher,
                 follower: ControlFollower | None = None,
                 owned_producer: Producer | None = None) -> None:
        self._stream = stream
        self._iterator: Iterator[T] = iter(stream)
        super().__init__(publisher, follower, owned_producer)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        if self.stop_event.is_set():
            self._end_stopped()
            raise StopIteration
        try:
            item = next(self._iterator)
        except StopIteration:
            self._finish(None)
            raise
        except BaseException as exc:
            if self.stop_event.is_set():  # the stream was closed under us by a stop
                self._end_stopped()
                raise StopIteration from None
            self._finish("error", {"error": type(exc).__name__})
            raise
        self._feed(item)
        if self.stop_event.is_set():
            # The item arrived with the stop: the app does not get it.
            self._end_stopped()
            raise StopIteration
        return item

    def _end_stopped(self) -> None:
        self._close_stream()
        self._finish("cancelled", self._stopped_meta())

    def _close_stream(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a broken connection must not hide the stop
                log.debug("closing the SDK stream failed", exc_info=True)

    def close(self) -> None:
        """Close the SDK stream; a stream not yet exhausted ends as ``abandoned``."""
        self._close_stream()
        if self.stop_event.is_set():
            self._finish("cancelled", self._stopped_meta())
        else:
            self._finish("abandoned")

    def __enter__(self) -> TappedStream[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)


class AsyncTappedStream(_TapCore, Generic[T]):
    """An async SDK stream with its deltas published; ``async for`` it like the SDK stream.

    A stop interrupts a pending read at once. :meth:`wait_stopped` lets another
    task wait for the stop signal.
    """

    def __init__(self, stream: AsyncIterable[T], publisher: TokenPublisher,
                 follower: ControlFollower | None = None,
                 owned_producer: Producer | None = None) -> None:
        self._stream = stream
        self._iterator: AsyncIterator[T] = aiter(stream)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_stop: asyncio.Future[None] | None = None
        super().__init__(publisher, follower, owned_producer)

    def _bind_loop(self) -> asyncio.Future[None]:
        if self._async_stop is None:
            self._loop = asyncio.get_running_loop()
            self._async_stop = self._loop.create_future()
            if self.stop_event.is_set():
                self._async_stop.set_result(None)
        return self._async_stop

    def _wake(self) -> None:
        loop, future = self._loop, self._async_stop
        if loop is None or future is None:
            return  # not iterating yet: the threading.Event is checked at the next step
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _resolve(future)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    async def wait_stopped(self) -> str | None:
        """Wait until a stop is requested; returns :attr:`stop_reason`."""
        await asyncio.shield(self._bind_loop())
        return self.stop_reason

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._ended:
            raise StopAsyncIteration
        stop = self._bind_loop()
        if stop.done() or self.stop_event.is_set():
            await self._end_stopped()
            raise StopAsyncIteration
        # One task a chunk (about 10 µs): the read can then be abandoned when a stop comes.
        read = asyncio.ensure_future(self._iterator.__anext__())
        await asyncio.wait((read, stop), return_when=asyncio.FIRST_COMPLETED)
        if not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
            await self._end_stopped()
            raise StopAsyncIteration
        try:
            item = read.result()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except BaseException as exc:
            if self.stop_event.is_set():
                await self._end_stopped()
                raise StopAsyncIteration from None
            self._finish("error", {"error": type(exc).__name__})
            raise
        self._feed(item)
        if self.stop_event.is_set():
            await self._end_stopped()
            raise StopAsyncIteration
        return item

    async def _end_stopped(self) -> None:
        await self._close_stream()
        self._finish("cancelled", self._stopped_meta())

    async def _close_stream(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is None:
            close = getattr(self._stream, "aclose", None)
        if close is None:
            return
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.debug("closing the SDK stream failed", exc_info=True)

    async def close(self) -> None:
        """Close the SDK stream; a stream not yet exhausted ends as ``abandoned``."""
        await self._close_stream()
        if self.stop_event.is_set():
            self._finish("cancelled", self._stopped_meta())
        else:
            self._finish("abandoned")

    async def __aenter__(self) -> AsyncTappedStream[T]:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)


@overload
def tap(stream: AsyncIterable[T], *, publisher: TokenPublisher | None = ...,
        producer: Producer | None = ..., brokers: ClientSettings | str | None = ...,
        topic: str = ...,
        stream_id: str | None = ..., provider: str = ..., model: str | None = ...,
        follower: ControlFollower | None = ...) -> AsyncTappedStream[T]: ...


@overload
def tap(stream: Iterable[T], *, publisher: TokenPublisher | None = ...,
        producer: Producer | None = ..., brokers: ClientSettings | str | None = ...,
        topic: str = ...,
        stream_id: str | None = ..., provider: str = ..., model: str | None = ...,
        follower: ControlFollower | None = ...) -> TappedStream[T]: ...


def tap(stream: Iterable[T] | AsyncIterable[T], *, publisher: TokenPublisher | None = None,
        producer: Producer | None = None, brokers: ClientSettings | str | None = None,
        topic: str = DEFAULT_TOPIC,
        stream_id: str | None = None, provider: str = "openai", model: str | None = None,
        follower: ControlFollower | None = None
        ) -> TappedStream[T] | AsyncTappedStream[T]:
    """Wrap an openai SDK stream: same items out, deltas into Kafka, a stop signal in.

    Parameters
    ----------
    stream
        What ``client.chat.completions.create(stream=True)`` or
        ``client.responses.create(stream=True)`` returned, from ``openai.OpenAI``
        (sync) or ``openai.AsyncOpenAI`` (async).
    publisher
        A ready :class:`TokenPublisher` for this stream. Otherwise one is made
        from ``producer`` (preferred: share one producer per process), or from a
        producer made for this stream from ``brokers`` (flushed when the stream
        ends). With none of them the tap publishes nothing but still counts,
        and the stop signal still works.
    brokers
        :class:`~midstream.connectors.kafka.settings.ClientSettings`, or bootstrap
        servers alone, whose librdkafka settings (credentials, TLS) then come
        from ``MIDSTREAM_KAFKA_*`` as in the job.
    topic
        The token topic (``Topics.from_env().tokens`` in apps that configure topics).
    stream_id
        The Kafka stream id (default ``tap-<uuid>``); control decisions name it.
    provider, model
        Copied into the events; ``model`` defaults to the one the stream reports.
    follower
        A started :class:`ControlFollower`: its ``stop`` decisions for
        ``stream_id`` end the iteration and close the SDK stream.

    Returns
    -------
    TappedStream or AsyncTappedStream
        Iterate it like the SDK stream. ``.stopped``, ``.stop_event`` (a
        ``threading.Event``), ``.stop_reason``, ``.decisions`` and
        ``.finish_reason`` tell what happened; ``.stop()`` stops it locally.
    """
    owned: Producer | None = None
    if publisher is None:
        if producer is None and brokers is not None:
            producer = owned = make_producer(client_settings(brokers))
        publisher = TokenPublisher(producer, topic, stream_id or f"tap-{uuid.uuid4().hex}",
                                   provider=provider, model=model)
    if hasattr(stream, "__aiter__"):
        return AsyncTappedStream(stream, publisher, follower, owned)  # type: ignore[arg-type]
    return TappedStream(stream, publisher, follower, owned)  # type: ignore[arg-type]
