"""The one place where tenant SQL runs: ``scoped()`` transactions, read only, as the reader role
with the user's JWT claims: both tenancy locks' session half, the RLS identity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, Row, text

from queries import config, sqlfiles
from queries.criteria import Scope
from queries.errors import translated_errors

# The role every tenant query runs as. Only tests turn the switch off (without_role_switch), to
# prove that the explicit company filter alone keeps a user inside their companies.
TENANT_ROLE = "orchdash_reader"
# The role named in the JWT claims, as Supabase's API would name a signed-in user: policies of the
# project that read auth.role() see the same as for that user. The database role is TENANT_ROLE.
CLAIMS_ROLE = "authenticated"
_switch_role: ContextVar[bool] = ContextVar("orchdash_switch_role", default=True)


# The scoped transaction a caller holds open, so that the reads inside it share one snapshot.
open_scope: ContextVar[tuple[Engine, str, Connection] | None] = ContextVar(
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
    held = open_scope.get()
    if held is not None and held[0] is engine and held[1] == user_id and timeout_ms is None:
        with translated_errors():
            yield held[2]
        return
    with transaction(engine, user_id, timeout_ms) as conn:
        yield conn


@contextmanager
def transaction(
    engine: Engine,
    user_id: str,
    timeout_ms: int | None,
    *,
    via: Engine | None = None,
    snapshot: str | None = None,
    writes: bool = False,
) -> Iterator[Connection]:
    """The transaction of ``scoped()``, on a connection of ``via`` (default ``engine``) and in
    an exported ``snapshot`` if given; ``scoped()`` calls of ``engine`` inside it join it.
    ``writes``: READ WRITE, READ COMMITTED (the user's own rows, under their RLS policies)."""
    claims = json.dumps({"sub": user_id, "role": CLAIMS_ROLE})
    timeout = config.statement_timeout_ms() if timeout_ms is None else timeout_ms
    with translated_errors(), (via or engine).connect() as conn:
        # psycopg opens the transaction with these in its BEGIN; the pool resets them on return.
        if writes:
            conn.execution_options(isolation_level="READ COMMITTED", postgresql_readonly=False)
        else:
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
            token = open_scope.set((engine, user_id, conn))
            try:
                yield conn
            finally:
                open_scope.reset(token)


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


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
def scoped_writes(engine: Engine, user_id: str) -> Iterator[Connection]:
    """A READ WRITE transaction as ``orchdash_reader`` with the user's JWT claims, for the tables
    whose RLS policies let a user change their own rows only (subscriptions): the policy, not
    this code, decides which rows a statement may touch."""
    with transaction(engine, user_id, None, writes=True) as conn:
        yield conn


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


def fetch(engine: Engine, scope: Scope, name: str, params: dict[str, Any]) -> list[Row[Any]]:
    """Run ``queries/sql/<name>.sql`` in the user's scoped transaction; bind what it declares."""
    statement = sqlfiles.load(name)
    bound = {key: params[key] for key in statement._bindparams}
    with scoped(engine, scope.user_id) as conn:
        return list(conn.execute(statement, bound))
