"""CSV extracts: the spreadsheet rule they share, and the filtered raw rows streamed by COPY into
a binary file, in bounded memory.

The rule is :data:`FORMULA_STARTS`, in one place: :func:`safe_cell` applies it to the cells of the
frames the pages offer as `Download CSV`, and ``export_rows.sql`` gets it bound, so that the
streamed export applies it in PostgreSQL, row by row as COPY writes them.

The streamed rows and their order are those of :func:`queries.rows.metric_rows`; the SQL writes
intervals as seconds and neutralises the name columns. This module only moves bytes: it turns
COPY's record ends into ``\\r\\n`` (RFC 4180), leaving line breaks inside quoted cells as they are.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from sqlalchemy import Engine

from queries import config, sqlfiles, transactions
from queries.criteria import Filters, Scope, sql_params
from queries.rows import METRIC_ROWS

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# full-width forms are included because some spreadsheets normalise them to ASCII.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
CHUNK_BYTES = 1 << 16
HEADER = (",".join(METRIC_ROWS) + "\r\n").encode()


def safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet shows as text (a leading ``'`` where it starts with one of
    :data:`FORMULA_STARTS`); numbers, dates and missing values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class RecordEnds:
    """Rewrites the ``\\n`` that end CSV records as ``\\r\\n``, chunk after chunk.

    A ``\\n`` ends a record when it stands outside quotes; quotes toggle that state (an escaped
    ``""`` toggles twice), so the state carries across chunk boundaries. A quote or a newline is
    one byte in UTF-8 and never part of another character.
    """

    def __init__(self) -> None:
        self.quoted = False

    def __call__(self, chunk: bytes) -> bytes:
        parts = chunk.split(b'"')
        for i, part in enumerate(parts):
            if i:
                self.quoted = not self.quoted
            if not self.quoted:
                parts[i] = part.replace(b"\n", b"\r\n")
        return b'"'.join(parts)


def export_csv(engine: Engine, scope: Scope, f: Filters, out: BinaryIO) -> int:
    """Stream the rows :func:`~queries.rows.metric_rows` would return as UTF-8 CSV into ``out``.

    Same columns, same order (newest first). Intervals are seconds, numbers as stored (negative
    ones stay numbers), ``agents_involved`` and ``metadata`` JSON, timestamps ISO 8601 in
    ``f.tz``; name cells starting with one of :data:`FORMULA_STARTS` (``= + - @``, tab, CR,
    ``＝ ＋ － ＠``) get a leading ``'``, exactly as :func:`safe_cell` gives them.
    Lines end with ``\\r\\n``. Memory stays bounded by one chunk whatever the row count; the
    statement timeout is ORCHDASH_EXPORT_TIMEOUT_MS. Returns the number of rows written.
    """
    params = sql_params(scope, f)
    if params is None:
        out.write(HEADER)
        return 0
    copy_rows = sqlfiles.load("export_rows")
    compiled = copy_rows.compile(dialect=engine.dialect)
    params["formula_starts"] = list(FORMULA_STARTS)
    bound: dict[str, Any] = {key: params[key] for key in copy_rows._bindparams}
    record_ends = RecordEnds()
    with transactions.scoped(engine, scope.user_id, timeout_ms=config.export_timeout_ms()) as conn:
        conn.execute(sqlfiles.load("export_session"), {"tz": f.tz})
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            pending = bytearray()
            with cursor.copy(str(compiled), compiled.construct_params(bound)) as copy:
                for data in copy:
                    pending += data
                    if len(pending) >= CHUNK_BYTES:
                        out.write(record_ends(bytes(pending)))
                        pending.clear()
            out.write(record_ends(bytes(pending)))
            return max(cursor.rowcount, 0)
