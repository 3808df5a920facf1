"""The export audit (migration 0005, queries.audit): an insert-only path, own rows only.

As the runtime role: the insert-only function records rows with the user of the transaction's
claims; nothing else about the audit table can be done (no INSERT, UPDATE, DELETE, no reading of
others' rows), and the function's owner can do nothing but insert there. Receipts hash the bytes
that were written.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from datetime import date

import metrics_world as mw
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import queries
from queries import Filters, Scope, audit, db


@pytest.fixture(scope="module")
def owner(world: mw.World) -> Iterator[Engine]:
    engine = create_engine(world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def receipt(name: str, user: str | None = None) -> audit.Receipt:
    return audit.Receipt(
        file_name=name,
        filters=audit.filters_record(Filters(start=date(2026, 1, 1), end=date(2026, 1, 31))),
        time_zone="UTC",
        data_as_of=audit.now_utc(),
        row_count=3,
        scope=(str(uuid.uuid4()),),
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        user_id=user,
    )


def test_records_carry_the_transactions_user_and_read_back_as_own(
    world_app: Engine, owner: Engine, world: mw.World
) -> None:
    multi, single = world.users["multi"], world.users["single"]
    audit.record(world_app, multi, "export", receipt("multi.csv"))
    audit.record(world_app, single, "export", receipt("single.csv"))
    audit.record(world_app, None, "refused", reason="bad token")
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 2))
    audit.record(world_app, multi, "refused", reason="session ended", filters=f)
    with owner.connect() as conn:
        users = dict(
            conn.execute(
                text("SELECT file_name, CAST(user_id AS text) FROM orchdash_audit "
                     "WHERE file_name IS NOT NULL")
            ).all()
        )  # fmt: skip
        anonymous = conn.execute(
            text("SELECT count(*) FROM orchdash_audit WHERE user_id IS NULL")
        ).scalar()
    assert users["multi.csv"] == multi and users["single.csv"] == single
    assert anonymous >= 1
    mine = audit.my_exports(world_app, Scope(user_id=multi))
    assert set(mine["file_name"].dropna()) == {"multi.csv"}
    assert set(mine["action"]) == {"export", "refused"}
    refused = mine[mine["action"] == "refused"].iloc[0]
    assert refused["filters"]["start"] == "2026-01-01" and refused["reason"] == "session ended"
    back = audit.Receipt.from_audit(mine[mine["action"] == "export"].iloc[0].to_dict())
    assert back.sha256 == hashlib.sha256(b"multi.csv").hexdigest() and back.row_count == 3
    assert json.loads(back.to_json())["file_name"] == "multi.csv"
    # A user without any export sees none of the others'.
    assert audit.my_exports(world_app, Scope(user_id=world.users["none"])).empty


def test_rls_alone_keeps_a_user_to_their_own_rows(world_app: Engine, world: mw.World) -> None:
    audit.record(world_app, world.users["hostile"], "export", receipt("hostile.csv"))
    with db.scoped(world_app, world.users["single"]) as conn:
        seen = conn.execute(text("SELECT DISTINCT CAST(user_id AS text) FROM orchdash_audit"))
        assert {r[0] for r in seen} <= {world.users["single"]}


WRITES = (
    "INSERT INTO orchdash_audit (action) VALUES ('export')",
    "UPDATE orchdash_audit SET reason = 'x'",
    "DELETE FROM orchdash_audit",
    "TRUNCATE orchdash_audit",
)


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("as_authenticated", [False, True])
def test_the_runtime_role_cannot_write_the_table_directly(
    world_app: Engine, world: mw.World, statement: str, as_authenticated: bool
) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), world_app.begin() as conn:
        if as_authenticated:
            conn.execute(text("SET LOCAL ROLE authenticated"))
        conn.execute(text(statement))


def test_the_runtime_role_itself_reads_no_audit_row(world_app: Engine) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), world_app.connect() as conn:
        conn.execute(text("SELECT count(*) FROM orchdash_audit"))


def test_the_audit_path_can_only_insert_there(owner: Engine) -> None:
    with owner.connect() as conn:
        grants = conn.execute(
            text(
                "SELECT n.nspname || '.' || c.relname, p.privilege,"
                " CASE WHEN p.privilege = 'INSERT'"
                " THEN has_any_column_privilege('orchdash_auditor', c.oid, 'INSERT')"
                " ELSE has_table_privilege('orchdash_auditor', c.oid, p.privilege) END"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE',"
                " 'REFERENCES']) AS p(privilege)"
                " WHERE n.nspname IN ('public', 'auth') AND c.relkind IN ('r', 'v', 'm')"
            )
        ).all()
        allowed = {(table, privilege) for table, privilege, ok in grants if ok}
        assert len(grants) > 30  # the catalog query sees the tables: not vacuous
        assert allowed == {("public.orchdash_audit", "INSERT")}
        # Neither the id nor the time can be chosen by the caller.
        for column, expected in (("id", False), ("at", False), ("sha256", True)):
            assert (
                conn.execute(
                    text(
                        "SELECT has_column_privilege('orchdash_auditor', 'orchdash_audit',"
                        " :c, 'INSERT')"
                    ),
                    {"c": column},
                ).scalar()
                is expected
            )
        role = conn.execute(
            text("SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles"
                 " WHERE rolname = 'orchdash_auditor'")
        ).one()  # fmt: skip
        assert tuple(role) == (False, False, False)
        callers = {
            r: conn.execute(
                text(
                    "SELECT has_function_privilege(:r, 'public.orchdash_record_export(text, text,"
                    " jsonb, text, timestamptz, bigint, uuid[], text, text)', 'EXECUTE')"
                ),
                {"r": r},
            ).scalar()
            for r in ("orchdash_app", "authenticated", "anon", "public")
            if r != "public"
        }
        assert callers == {"orchdash_app": True, "authenticated": False, "anon": False}


def test_bad_values_are_refused_by_the_table(world_app: Engine, world: mw.World) -> None:
    bad = audit.Receipt(**{**receipt("x.csv").__dict__, "sha256": "not-a-hash"})
    with pytest.raises(DBAPIError, match="check constraint"):
        audit.record(world_app, world.users["multi"], "export", bad)


def test_a_hashing_writer_hashes_exactly_what_it_passes_on(
    world_app: Engine, world: mw.World
) -> None:
    scope = queries.scope_for_user(world_app, world.users["multi"])
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY)
    out = io.BytesIO()
    writer = audit.HashingWriter(out)
    rows = queries.export_csv(world_app, scope, f, writer)  # type: ignore[arg-type]
    assert rows > 100
    assert writer.hexdigest() == hashlib.sha256(out.getvalue()).hexdigest()
    assert writer.size == len(out.getvalue())
