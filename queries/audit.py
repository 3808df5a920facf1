"""Export receipts and the audit of exports (migration f05).

A :class:`Receipt` says what an extract holds: its filters, time zone, when the data was read,
how many rows, which companies the scope allowed, and the SHA-256 of the exact bytes sent.
:class:`HashingWriter` computes that hash while the CSV streams, without keeping the file.

:func:`record_export` writes an export (or a refused attempt) through the insert-only function
``orchdash_record_export`` in a short transaction of its own: tenant reads are READ ONLY, and this
is the runtime role's only write, which can add audit rows and nothing else. :func:`my_exports`
reads the signed-in user's own rows back (RLS and an explicit filter on the user).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

import pandas as pd
from sqlalchemy import Engine

from queries import config, errors, sqlfiles, transactions
from queries.criteria import Filters, Scope, valid_id, valid_limit
from queries.frames import Columns, from_rows
from queries.transactions import fetch

Action = Literal["export", "export_incomplete", "refused"]
MY_EXPORTS: Columns = {
    "id": "int",
    "at": "ts",
    "action": "str",
    "file_name": "str",
    "filters": "object",
    "time_zone": "str",
    "data_as_of": "ts",
    "row_count": "Int64",
    "scope": "object",
    "sha256": "str",
    "reason": "str",
}
_MAX_REASON = 500
EMPTY_SHA256 = hashlib.sha256().hexdigest()


def filters_record(f: Filters) -> dict[str, Any]:
    """The filters as plain JSON values (what a receipt and the audit keep)."""
    return {
        "start": f.start.isoformat(),
        "end": f.end.isoformat(),
        "company_ids": list(f.company_ids),
        "venture_ids": list(f.venture_ids),
        "stages": list(f.stages),
        "grain": f.grain,
        "tz": f.tz,
        "agents": list(f.agents),
        "agents_match": f.agents_match,
    }


@dataclass(frozen=True)
class Receipt:
    """What one extract holds. ``sha256`` is of the file exactly as downloaded."""

    file_name: str
    filters: dict[str, Any]
    time_zone: str
    data_as_of: str  # ISO 8601, UTC: when the export's transaction began reading
    row_count: int
    scope: tuple[str, ...]  # the companies the user's scope allowed at that moment
    sha256: str
    user_id: str | None = None

    def to_json(self) -> str:
        body = asdict(self) | {"scope": list(self.scope)}
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_audit(cls, row: dict[str, Any], user_id: str | None = None) -> Receipt:
        """The receipt of an audit row of :func:`my_exports`."""
        as_of = row["data_as_of"]
        return cls(
            file_name=str(row["file_name"]),
            filters=dict(row["filters"] or {}),
            time_zone=str(row["time_zone"]),
            data_as_of=as_of.astimezone(UTC).isoformat() if not pd.isna(as_of) else "",
            row_count=int(row["row_count"]),
            scope=tuple(row["scope"] or ()),
            sha256=str(row["sha256"]),
            user_id=user_id,
        )


def now_utc() -> str:
    return datetime.now(UTC).isoformat()


class HashingWriter:
    """A binary file object that passes bytes on to ``out`` and hashes them on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def record_export(
    engine: Engine,
    user_id: str | None,
    action: Action,
    receipt: Receipt | None = None,
    reason: str | None = None,
    filters: Filters | None = None,
) -> None:
    """Write one audit row in a short transaction of its own, as the user of ``user_id`` (or as
    nobody when None). Only the insert-only function is called: no other data is read or
    written. ``filters`` names what a refused attempt asked for, when known."""
    user = None if user_id is None else valid_id(user_id, "users")
    params: dict[str, Any] = {
        "action": action,
        "file_name": receipt.file_name if receipt else None,
        "filters": json.dumps(
            receipt.filters if receipt else filters_record(filters) if filters else None
        ),
        "time_zone": receipt.time_zone if receipt else filters.tz if filters else None,
        "data_as_of": receipt.data_as_of if receipt else None,
        "row_count": receipt.row_count if receipt else None,
        "scope": list(receipt.scope) if receipt else None,
        "sha256": receipt.sha256 if receipt else None,
        "reason": reason[:_MAX_REASON] if reason else None,
    }
    claims = json.dumps({"sub": user, "role": transactions.CLAIMS_ROLE}) if user else ""
    with errors.translated_errors(), engine.connect() as conn, conn.begin():
        conn.execute(
            sqlfiles.load("audit_session"),
            {"timeout": str(config.statement_timeout_ms()), "claims": claims, "sub": user or ""},
        )
        conn.execute(sqlfiles.load("audit_record"), params)


def my_exports(engine: Engine, scope: Scope, limit: int = 50) -> pd.DataFrame:
    """The signed-in user's own audit rows, newest first (:data:`MY_EXPORTS`)."""
    rows = fetch(
        engine, scope, "audit_mine", {"user_id": scope.user_id, "row_limit": valid_limit(limit)}
    )
    tz = config.timezone_name()
    return from_rows(rows, MY_EXPORTS, tz)
