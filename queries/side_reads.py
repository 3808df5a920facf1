"""Reads side by side: a second connection in the snapshot of the caller's transaction."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

from sqlalchemy import Engine, event, text

from queries.engines import make_engine
from queries.errors import translated_errors
from queries.transactions import open_scope, transaction

_lock = threading.Lock()

# One page's reads that do not depend on each other can use the machine's other cores: a side
# connection imports the snapshot of the caller's transaction, so both read the same data. Each
# engine gets a small pool of its own for them, and a read that finds it in use runs in the
# caller's transaction instead: a side read never waits for a connection that a caller holds
# while it waits for that side read.
SIDE_CONNECTIONS = 2
_side_engines: weakref.WeakKeyDictionary[Engine, tuple[Engine, threading.BoundedSemaphore]] = (
    weakref.WeakKeyDictionary()
)
_side_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="orchdash-beside")
T = TypeVar("T")


def beside(read: Callable[[], T], *, timeout_ms: int | None = None) -> Callable[[], T]:
    """Start ``read`` on a second connection, in the snapshot of the open ``scoped()``
    transaction, as the same user; answer a function that waits for its result (and raises its
    error). Call that function before the transaction ends. Without a free side connection,
    ``read`` runs when its result is asked for, in the caller's transaction. ``timeout_ms``: the
    side transaction's statement timeout, as ``scoped()`` takes it."""
    held = open_scope.get()
    if held is None:
        raise RuntimeError("beside() reads in the snapshot of an open scoped() transaction")
    engine, user_id, conn = held
    side, slots = _side_of(engine)
    if not slots.acquire(blocking=False):
        return read
    try:
        with translated_errors():
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        future = _side_threads.submit(
            copy_context().run, _read_beside, side, engine, user_id, snapshot, timeout_ms, read
        )
    except BaseException:
        slots.release()
        raise
    future.add_done_callback(lambda _: slots.release())
    return future.result


def _read_beside(
    side: Engine,
    engine: Engine,
    user_id: str,
    snapshot: str,
    timeout_ms: int | None,
    read: Callable[[], T],
) -> T:
    with transaction(engine, user_id, timeout_ms, via=side, snapshot=snapshot):
        return read()


def _side_of(engine: Engine) -> tuple[Engine, threading.BoundedSemaphore]:
    with _lock:
        found = _side_engines.get(engine)
        if found is None:
            side = make_engine(
                engine.url.render_as_string(hide_password=False),
                pool_size=SIDE_CONNECTIONS,
                max_overflow=0,
            )
            found = _side_engines[engine] = (side, threading.BoundedSemaphore(SIDE_CONNECTIONS))
            event.listen(engine, "engine_disposed", _dispose_side)
        return found


def _dispose_side(engine: Engine) -> None:
    with _lock:
        found = _side_engines.pop(engine, None)
    if found is not None:
        found[0].dispose()
