"""The export audit (migration f05, queries.audit): an insert-only path, own rows only.

As the runtime role: the insert-only function records rows with the user of the transaction's
claims; nothing else about the audit table can be done (no INSERT, UPDATE, DELETE, no reading of
others' rows), and only the runtime role may call the function. Receipts hash the bytes that
were written.
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
from queries import Filters, Scope, audit, transactions


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
    audit.record_export(world_app, multi, "export", receipt("multi.csv"))
    audit.record_export(world_app, single, "export", receipt("single.csv"))
    audit.record_export(world_app, None, "refused", reason="bad token")
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 2))
    audit.record_export(world_app, multi, "refused", reason="session ended", filters=f)
    with owner.connect() as conn:
        users = dict(
            conn.execute(
                text("SELECT file_name, CAST(user_id AS text) FROM orchdash.export_audit "
                     "WHERE file_name IS NOT NULL")
            ).all()
        )  # fmt: skip
        anonymous = conn.execute(
            text("SELECT count(*) FROM orchdash.export_audit WHERE user_id IS NULL")
        ).scalar()
    assert users["multi.csv"] == multi and users["single.csv"] == single
    assert anonymous >= 1
    # Other tests of the session export as "multi" too: their rows are theirs to check.
    mine = audit.my_exports(world_app, Scope(user_id=multi))
    names = set(mine["file_name"].dropna())
    assert "multi.csv" in names and "single.csv" not in names
    assert {"export", "refused"} <= set(mine["action"])
    refused = mine[(mine["action"] == "refused") & (mine["reason"] == "session ended")].iloc[0]
    assert refused["filters"]["start"] == "2026-01-01"
    back = audit.Receipt.from_audit(mine[mine["file_name"] == "multi.csv"].iloc[0].to_dict())
    assert back.sha256 == hashlib.sha256(b"multi.csv").hexdigest() and back.row_count == 3
    assert json.loads(back.to_json())["file_name"] == "multi.csv"
    # A user without any export sees none of the others'.
    assert audit.my_exports(world_app, Scope(user_id=world.users["none"])).empty


def test_rls_alone_keeps_a_user_to_their_own_rows(world_app: Engine, world: mw.World) -> None:
    audit.record_export(world_app, world.users["hostile"], "export", receipt("hostile.csv"))
    with transactions.scoped(world_app, world.users["single"]) as conn:
        seen = conn.execute(
            text("SELECT DISTINCT CAST(user_id AS text) FROM orchdash.export_audit")
        )
        assert {r[0] for r in seen} <= {world.users["single"]}


WRITES = (
    "INSERT INTO orchdash.export_audit (action) VALUES ('export')",
    "UPDATE orchdash.export_audit SET reason = 'x'",
    "DELETE FROM orchdash.export_audit",
    "TRUNCATE orchdash.export_audit",
)


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("as_reader", [False, True])
def test_the_runtime_role_cannot_write_the_table_directly(
    world_app: Engine, world: mw.World, statement: str, as_reader: bool
) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), world_app.begin() as conn:
        if as_reader:
            conn.execute(text(f"SET LOCAL ROLE {transactions.TENANT_ROLE}"))
        conn.execute(text(statement))


def test_the_runtime_role_itself_reads_no_audit_row(world_app: Engine) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), world_app.connect() as conn:
        conn.execute(text("SELECT count(*) FROM orchdash.export_audit"))


RECORD_EXPORT = (
    "orchdash.record_export(text, text, jsonb, text, timestamptz, bigint, uuid[], text, text)"
)


def test_the_audit_path_is_the_runtime_roles_only_and_adds_one_row(
    owner: Engine, world_app: Engine, world: mw.World
) -> None:
    with owner.connect() as conn:
        callers = {
            role: conn.execute(
                text("SELECT has_function_privilege(:r, :f, 'EXECUTE')"),
                {"r": role, "f": RECORD_EXPORT},
            ).scalar()
            for role in ("orchdash_app", "orchdash_reader", "authenticated", "anon", "service_role")
        }
        assert callers == {
            "orchdash_app": True,
            "orchdash_reader": False,
            "authenticated": False,
            "anon": False,
            "service_role": False,
        }
        definer, config = conn.execute(
            text("SELECT prosecdef, proconfig FROM pg_proc WHERE oid = CAST(:f AS regprocedure)"),
            {"f": RECORD_EXPORT},
        ).one()
        assert definer and config == ["search_path=pg_catalog, pg_temp"]
        before = conn.execute(text("SELECT count(*) FROM orchdash.export_audit")).scalar()
    audit.record_export(world_app, world.users["multi"], "export", receipt("one.csv"))
    with owner.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM orchdash.export_audit")).scalar()
        # Neither the id nor the time can be chosen by the caller: the function takes neither.
        arguments = conn.execute(
            text("SELECT pg_get_function_identity_arguments(CAST(:f AS regprocedure))"),
            {"f": RECORD_EXPORT},
        ).scalar()
    assert after == before + 1
    assert "p_id" not in arguments and "p_at" not in arguments


def test_bad_values_are_refused_by_the_table(world_app: Engine, world: mw.World) -> None:
    bad = audit.Receipt(**{**receipt("x.csv").__dict__, "sha256": "not-a-hash"})
    with pytest.raises(DBAPIError, match="check constraint"):
        audit.record_export(world_app, world.users["multi"], "export", bad)


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
