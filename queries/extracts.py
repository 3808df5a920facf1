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

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, BinaryIO, cast

from sqlalchemy import Connection, Engine

from queries import config, side_reads, sqlfiles, transactions
from queries.criteria import Filters, Scope, sql_params
from queries.rows import METRIC_ROWS

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# full-width forms are included because some spreadsheets normalise them to ASCII.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
CHUNK_BYTES = 1 << 16
# A slice of about 20,000 rows (8 MB of CSV) keeps the side connection busy for some 80 ms: long
# beside the cost of a slice (a statement and a snapshot, about 2 ms), short enough that a spool
# seldom goes to disk. The first slice is short so that the first bytes come at once.
SLICE_ROWS = 20_000
FIRST_SLICE = timedelta(hours=1)
SHORTEST_SLICE = timedelta(seconds=1)
SPOOL_BYTES = 32 << 20
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
        # Part i is inside quotes when the chunk starts inside them, or i is odd, not both.
        if b"\n" not in b"".join(parts[0 if self.quoted else 1 :: 2]):
            # No line break inside a cell (nearly every chunk): each one ends a record.
            self.quoted ^= len(parts) % 2 == 0
            return chunk.replace(b"\n", b"\r\n")
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
    Lines end with ``\\r\\n``. Memory stays bounded (a chunk, and a slice spooled to disk past
    :data:`SPOOL_BYTES`) whatever the row count; the statement timeout is
    ORCHDASH_EXPORT_TIMEOUT_MS. Returns the number of rows written.

    PostgreSQL writes COPY's text on one core; an export is therefore cut into slices of its
    period (:class:`Slices`), and while this connection streams one slice, a side connection in
    the same snapshot (:func:`~queries.side_reads.beside`) writes the next one into a spool.
    """
    out.write(HEADER)
    params = sql_params(scope, f)
    if params is None:
        return 0
    params["formula_starts"] = list(FORMULA_STARTS)
    copy_rows = Copy(engine, params)
    timeout = config.export_timeout_ms()
    slices = Slices(params["start_ts"], params["end_ts"])
    written = 0
    with transactions.scoped(engine, scope.user_id, timeout_ms=timeout) as conn:
        conn.execute(sqlfiles.load("export_session"), {"tz": f.tz})
        newer = slices.next()
        while newer is not None:
            older = slices.next()
            spooled = None
            if older is not None:
                spool_older = partial(copy_rows.spool, older, f.tz)
                spooled = side_reads.beside(spool_older, timeout_ms=timeout)
            try:
                rows = copy_rows.into(conn, newer, out.write)
            except BaseException:
                _drop(spooled)  # the side read must end inside this transaction
                raise
            slices.saw(newer, rows)
            written += rows
            if older is not None and spooled is not None:
                spool, rows = spooled()
                with spool:
                    shutil.copyfileobj(spool, out, CHUNK_BYTES)
                slices.saw(older, rows)
                written += rows
            newer = slices.next()
    return written


Piece = tuple[datetime, datetime]


class Slices:
    """The period cut into pieces of time, from its end back to its start, each as long as the
    last piece's rows suggest for :data:`SLICE_ROWS` (at most four times longer or shorter):
    no count first, and a burst of rows in a short time makes short pieces."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end, self.width = start, end, FIRST_SLICE

    def next(self) -> Piece | None:
        """The next older piece ``[lo, hi)``, None when the period is done."""
        if self.end <= self.start:
            return None
        lo = max(self.start, self.end - self.width)
        piece, self.end = (lo, self.end), lo
        return piece

    def saw(self, piece: Piece, rows: int) -> None:
        """Size the next pieces from the rows this one held."""
        growth = 4.0 if rows == 0 else min(4.0, max(0.25, SLICE_ROWS / rows))
        self.width = max(SHORTEST_SLICE, (piece[1] - piece[0]) * growth)


class Copy:
    """export_rows.sql compiled once, run for one piece of the period at a time."""

    def __init__(self, engine: Engine, params: dict[str, Any]) -> None:
        statement = sqlfiles.load("export_rows")
        self.compiled = statement.compile(dialect=engine.dialect)
        self.bound: dict[str, Any] = {key: params[key] for key in statement._bindparams}

    def into(self, conn: Connection, piece: Piece, write: Callable[[bytes], object]) -> int:
        """COPY the piece's rows into ``write``, lines ended by ``\\r\\n``; the rows written."""
        driver = conn.connection.driver_connection
        assert driver is not None
        bound = {**self.bound, "start_ts": piece[0], "end_ts": piece[1]}
        record_ends = RecordEnds()
        with driver.cursor() as cursor:
            pending = bytearray()
            with cursor.copy(str(self.compiled), self.compiled.construct_params(bound)) as copy:
                for data in copy:
                    pending += data
                    if len(pending) >= CHUNK_BYTES:
                        write(record_ends(bytes(pending)))
                        pending.clear()
            write(record_ends(bytes(pending)))
            return max(cursor.rowcount, 0)

    def spool(self, piece: Piece, tz: str) -> tuple[BinaryIO, int]:
        """The piece's rows, in the open scoped transaction, into a spool ready to be read."""
        held = transactions.open_scope.get()
        assert held is not None
        conn = held[2]
        conn.execute(sqlfiles.load("export_session"), {"tz": tz})
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            rows = self.into(conn, piece, spool.write)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return cast(BinaryIO, spool), rows


def _drop(spooled: Callable[[], tuple[BinaryIO, int]] | None) -> None:
    """Wait for a side piece and throw it away: its reader left, or the main piece failed, and
    that error is the one to raise."""
    if spooled is None:
        return
    try:
        spooled()[0].close()
    except Exception:  # noqa: BLE001, S110 - the caller raises the error that matters
        pass
