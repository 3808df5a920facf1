"""Deterministic demo data, loaded into PostgreSQL with COPY, and the two demo accounts.

The numbers come from ``queries.demo_data`` and ``queries.demo_rows``; this module writes them:
in one transaction it empties the tenant tables, replaces the demo users, streams every table as
CSV through ``COPY ... FREEZE`` (pyarrow writes the CSV; the next chunk is drawn while one is
sent), builds orchestration_metrics' indexes and foreign keys once at the end, and analyzes the
tables.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import bcrypt
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Engine

from queries import sqlfiles
from queries.demo_data import COMPANY_NAMES, World, demo_world
from queries.demo_rows import generate_rows, metric_chunks

__all__ = [
    "DEMO_PASSWORDS",
    "DemoSummary",
    "demo_user_ids",
    "demo_world",
    "generate_rows",
    "has_demo",
    "load_demo",
]

DEMO_PASSWORDS: dict[str, str] = {
    "chairman@demo.local": "chairman-demo",
    "analyst@demo.local": "analyst-demo",
}
_USER_NAMESPACE = uuid.UUID("5d1c0a52-8f0e-4d0b-9a57-6f7a2b1e9c3d")
_BCRYPT_ROUNDS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class DemoSummary:
    companies: int
    ventures: int
    sessions: int
    rows: int
    users: dict[str, str]  # email -> user id


def demo_user_ids(seed: int) -> dict[str, str]:
    """The demo accounts' ids: the same for the same seed."""
    return {email: str(uuid.uuid5(_USER_NAMESPACE, f"{seed}:{email}")) for email in DEMO_PASSWORDS}


def has_demo(engine: Engine) -> bool:
    """True when companies has rows, so a first start loads the demo and later ones do not."""
    with engine.connect() as conn:
        return bool(conn.execute(sqlfiles.load("demo_exists")).scalar())


def load_demo(
    engine: Engine,
    rows: int = 200_000,
    seed: int = 42,
    end: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Replace the tenant tables' contents and the demo users with the demo, in one transaction.

    ``engine`` is an owner's. The tenant tables are truncated, so other users keep their account
    but lose their company access (the companies it named are gone). ``progress(done, rows)`` is
    called after each chunk of metric rows.
    """
    world = demo_world(rows, seed, end)
    users = demo_user_ids(seed)
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, rows)

    with engine.begin() as conn:
        conn.execute(sqlfiles.load("demo_utc"))
        conn.execute(sqlfiles.load("demo_clear"))
        conn.execute(sqlfiles.load("demo_delete_users"), {"emails": list(DEMO_PASSWORDS)})
        for statement, table in _small_tables(world, users):
            _copy(conn, statement, [table])
        conn.execute(sqlfiles.load("demo_drop_keys_and_indexes"))
        conn.execute(sqlfiles.load("rollup_suspend"))
        _copy(conn, "demo_copy_metrics", metric_chunks(world), step)
        conn.execute(sqlfiles.load("demo_restore_keys_and_indexes"))
        conn.execute(sqlfiles.load("demo_analyze"))
        conn.execute(sqlfiles.load("rollup_resume"))
    return DemoSummary(
        companies=len(world.company_ids),
        ventures=len(world.venture_ids),
        sessions=len(world.session_ids),
        rows=rows,
        users=users,
    )


def _copy(
    conn: Connection,
    statement: str,
    tables: Iterable[pa.Table],
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """COPY tables as CSV; the header goes first, and PostgreSQL checks it (HEADER match).

    The next chunk is drawn and written in a worker thread while this one is sent, and
    ``on_chunk`` is called once PostgreSQL has taken a chunk, so progress is what the server has.
    """
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(sqlfiles.load(statement).text) as copy:
        for data, rows in _ahead(_csv(tables)):
            copy.write(data)
            if on_chunk is not None:
                on_chunk(rows)


def _csv(tables: Iterable[pa.Table]) -> Iterator[tuple[memoryview, int]]:
    header = True
    for table in tables:
        out = io.BytesIO()
        pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=header))
        header = False
        yield out.getbuffer(), table.num_rows


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of ``items``, each drawn in a worker thread while the caller uses the last one.

    numpy, pyarrow and libpq release the GIL for their work, so drawing and sending overlap.
    """
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = worker.submit(next, items, None)
            yield item


def _small_tables(world: World, users: dict[str, str]) -> list[tuple[str, pa.Table]]:
    """Companies, ventures, sessions, users and their access, as (COPY statement, rows)."""
    day = dt.timedelta(days=1)
    companies = world.company_ids
    chairman, analyst = users["chairman@demo.local"], users["analyst@demo.local"]
    # The chairman sees the first three companies and no longer the fourth; the analyst one of
    # the chairman's.
    access = {
        "user_id": [chairman] * 4 + [analyst],
        "company_id": companies[:4] + [companies[1]],
        "access_level": ["chairman"] * 4 + ["viewer"],
        "is_active": [True, True, True, False, True],
    }
    timestamp = pa.timestamp("us", tz="UTC")
    return [
        (
            "demo_copy_companies",
            pa.table(
                {
                    "id": companies,
                    "name": list(COMPANY_NAMES),
                    "created_at": [world.start - 400 * day] * len(companies),
                }
            ),
        ),
        (
            "demo_copy_ventures",
            pa.table(
                {
                    "id": world.venture_ids,
                    "company_id": [companies[c] for c in world.venture_company],
                    "name": world.venture_names,
                    "created_at": [world.start + float(d) * day for d in world.venture_launch],
                }
            ),
        ),
        (
            "demo_copy_sessions",
            pa.table(
                {
                    "session_id": world.session_ids,
                    "company_id": world.session_company,
                    "venture_id": world.session_venture_id,
                    "status": world.session_status,
                    "started_at": pa.array(world.micros(world.session_start), type=timestamp),
                    "ended_at": pa.array(
                        world.micros(world.session_end),
                        type=timestamp,
                        mask=np.asarray(world.session_status) == "running",
                    ),
                }
            ),
        ),
        (
            "demo_copy_users",
            pa.Table.from_pylist(
                [
                    {
                        "id": users[email],
                        "email": email,
                        "encrypted_password": _bcrypt(password),
                        "email_confirmed_at": "2026-01-01T00:00:00Z",
                        "raw_user_meta_data": json.dumps({"name": email.split("@")[0].title()}),
                    }
                    for email, password in DEMO_PASSWORDS.items()
                ]
            ),
        ),
        ("demo_copy_access", pa.table(access)),
    ]


def _bcrypt(password: str) -> str:
    # Supabase (Go's bcrypt) writes the $2a$ prefix; the bcrypt package checks both.
    salt = bcrypt.gensalt(rounds=_BCRYPT_ROUNDS, prefix=b"2a")
    return bcrypt.hashpw(password.encode(), salt).decode()
