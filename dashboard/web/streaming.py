"""Bytes written by blocking code in a worker thread, read as an async stream with bounded memory.

``queries.export_csv`` writes CSV into a binary file object and blocks on the database. Here it
runs in its own thread and writes into a file object that cuts the bytes into chunks and hands
them over through an ``asyncio.Queue`` of ``max_chunks``: when the client reads slowly the writer
waits, so at most about ``(max_chunks + 2) * chunk_size`` bytes are held. When the client goes
away, the writer's next write raises :class:`StreamCancelled`, which ends the export (and its
database transaction) instead of leaving the thread blocked for good.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

CHUNK_SIZE = 64 * 1024
MAX_CHUNKS = 8
_POLL_SECONDS = 0.5


class StreamCancelled(Exception):
    """The reader is gone: the writer must stop."""


class _End:
    pass


_END = _End()


class _ChunkWriter(io.RawIOBase):
    def __init__(self, put: Callable[[bytes], None], chunk_size: int) -> None:
        self._put = put
        self._chunk_size = chunk_size
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= self._chunk_size:
            self._put(bytes(self._buffer[: self._chunk_size]))
            del self._buffer[: self._chunk_size]
        return len(view)

    def finish(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()


class ThreadedByteStream:
    """Runs ``produce(out)`` in a thread once :meth:`start` is awaited; iterate for its bytes.

    :meth:`start` returns after the first chunk (or the end) arrived, and raises what ``produce``
    raised if it failed before writing anything: a caller can still answer with an error status
    then. A failure after the first chunk ends the iteration with that exception.
    """

    def __init__(
        self,
        produce: Callable[[BinaryIO], object],
        *,
        chunk_size: int = CHUNK_SIZE,
        max_chunks: int = MAX_CHUNKS,
    ) -> None:
        self._produce = produce
        self._chunk_size = chunk_size
        self._queue: asyncio.Queue[bytes | _End | BaseException] = asyncio.Queue(max_chunks)
        self._stop = threading.Event()
        self._first: bytes | _End | None = None
        self._thread: threading.Thread | None = None

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        def put(item: bytes | _End | BaseException) -> None:
            handover = self._queue.put(item)
            try:
                future = asyncio.run_coroutine_threadsafe(handover, loop)
            except RuntimeError:  # the event loop is closed: nobody will read
                handover.close()
                raise StreamCancelled from None
            while True:
                try:
                    future.result(timeout=_POLL_SECONDS)
                    return
                except concurrent.futures.TimeoutError:
                    if self._stop.is_set():
                        future.cancel()
                        raise StreamCancelled from None

        writer = _ChunkWriter(put, self._chunk_size)
        try:
            self._produce(writer)  # type: ignore[arg-type]
            writer.finish()
            put(_END)
        except StreamCancelled:
            pass
        except BaseException as exc:  # handed to the reader, who re-raises it
            try:
                put(exc)
            except StreamCancelled:
                pass

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._work, args=(loop,), name="orchdash-stream", daemon=True
        )
        self._thread.start()
        self._first = await self._next()

    async def _next(self) -> bytes | _End:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self._stop.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            item = self._first if self._first is not None else await self._next()
            while not isinstance(item, _End):
                yield item
                item = await self._next()
        finally:
            self.cancel()
