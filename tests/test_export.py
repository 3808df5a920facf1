"""The CSV export parses back to metric_rows, is safe in a spreadsheet, and streams.

Peak memory against the row count is measured in the benchmarks (tests/bench), not here; this
file checks the streaming structure: bounded writes, record ends across chunk boundaries.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import metrics_world as mw
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from dashboard.ui.table_csv import to_csv
from queries import Filters, Scope, engines, extracts
from queries.extracts import CHUNK_BYTES, HEADER, Copy, Piece, RecordEnds, Slices

WHOLE = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="Asia/Kolkata")
NAMES = ("company", "venture")
INTEGERS = {
    "stage_id",
    "action_count",
    "success_count",
    "failure_count",
    "chairman_interventions",
    "chairman_approvals",
    "chairman_rejections",
    "api_calls_made",
}
JSON = {"agents_involved", "metadata"}
TIMESTAMPS = {"recorded_at", "metric_period_start", "metric_period_end"}
TEXT = {"metric_id", "session_id", "company_id", "venture_id"}


@pytest.fixture(scope="module")
def app(world_app: Engine) -> Engine:
    """The world's database as the app's runtime role."""
    return world_app


def export(app: Engine, scope: Scope, f: Filters) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = queries.export_csv(app, scope, f, out)
    return count, out.getvalue()


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def cell_value(column: str, cell: str, tz: str) -> Any:
    """A CSV cell read back as metric_rows holds it."""
    if cell == "":
        return None
    if column in INTEGERS:
        return int(cell)
    if column in JSON:
        return json.loads(cell)
    if column in TIMESTAMPS:
        stamp = pd.Timestamp(datetime.fromisoformat(cell))
        assert stamp.utcoffset() == stamp.tz_convert(tz).utcoffset()  # written in the zone
        return stamp
    if column in TEXT:
        return cell
    if column in NAMES:
        return cell
    return float(cell)


def neutralised(name: Any) -> Any:
    if isinstance(name, str) and name.startswith(mw.FORMULA_STARTS):
        return "'" + name
    return name


def assert_parses_back(data: bytes, count: int, frame: pd.DataFrame, tz: str) -> None:
    header, *rows = parse(data)
    assert header == mw.world_columns() == list(frame.columns)
    assert len(rows) == count == len(frame)
    for cells, expected in zip(rows, frame.to_dict("records"), strict=True):
        for column, cell in zip(header, cells, strict=True):
            want = expected[column]
            want = neutralised(want) if column in NAMES else want
            got = cell_value(column, cell, tz)
            if want is None or (not isinstance(want, list | dict) and pd.isna(want)):
                assert got is None, (column, cell)
            else:
                assert got == want, (column, cell, want)


def test_export_parses_back_to_metric_rows(app: Engine, world: mw.World) -> None:
    scope = queries.scope_for_user(app, world.users["multi"])
    count, data = export(app, scope, WHOLE)
    assert count > 1000  # most of the world: every kind of value is in it
    assert count == queries.count_rows(app, scope, WHOLE)
    assert_parses_back(data, count, queries.metric_rows(app, scope, WHOLE), WHOLE.tz)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_export_equals_metric_rows_for_drawn_filters(
    app: Engine, world: mw.World, data: st.DataObject
) -> None:
    user, f = data.draw(mw.choices(world))
    scope = queries.scope_for_user(app, user)
    count, written = export(app, scope, f)
    assert_parses_back(written, count, queries.metric_rows(app, scope, f), f.tz)


def test_formula_prefixes_are_neutralised_and_numbers_stay_numbers(
    app: Engine, world: mw.World
) -> None:
    everyone = [queries.scope_for_user(app, uid) for uid in world.users.values()]
    header: list[str] = []
    rows: list[list[str]] = []
    for scope in everyone:
        header, *more = parse(export(app, scope, WHOLE)[1])
        rows += more
    names = {header.index(n) for n in NAMES}
    numbers = {i for i, c in enumerate(header) if c not in TEXT | JSON | TIMESTAMPS | set(NAMES)}
    raw_names = set(mw.COMPANY_NAMES.values()) | set(world.ventures["venture"])
    seen_prefixed = {
        cells[i]
        for cells in rows
        for i in names
        if cells[i].startswith("'") and cells[i] not in raw_names
    }
    # Every hostile name of the world shows up, prefixed; no cell starts like a formula.
    assert seen_prefixed == {neutralised(n) for n in raw_names if n.startswith(mw.FORMULA_STARTS)}
    for cells in rows:
        for i, cell in enumerate(cells):
            if i in numbers:
                assert cell == "" or float(cell) == float(cell), (header[i], cell)
                assert not cell.startswith("'")
            else:
                assert not cell.startswith(mw.FORMULA_STARTS), (header[i], cell)
    negatives = [cells[i] for cells in rows for i in numbers if cells[i].startswith("-")]
    assert negatives and all(float(n) < 0 for n in negatives)


def test_a_pages_csv_and_the_streamed_export_neutralise_the_same_cells(
    app: Engine, world: mw.World
) -> None:
    """One rule for both extracts: the names of every row, as a page's `Download CSV` of a frame
    writes them (dashboard.ui.table_csv.to_csv) and as the streamed export writes them (COPY of
    export_rows.sql), are the same cells; numbers are numbers in both."""
    columns = [*NAMES, "compute_cost", "handoff_efficiency"]
    raw = set(mw.COMPANY_NAMES.values()) | set(world.ventures["venture"])
    neutralised_starts: set[str] = set()
    for user in world.users.values():
        scope = queries.scope_for_user(app, user)
        header, *streamed = parse(export(app, scope, WHOLE)[1])
        frame = queries.metric_rows(app, scope, WHOLE)[columns]
        page_header, *page = csv.reader(io.StringIO(to_csv(frame).decode("utf-8-sig"), newline=""))
        assert page_header == columns and len(page) == len(streamed)
        at = [header.index(c) for c in columns]
        for cells, shown in zip(streamed, page, strict=True):
            assert [cells[i] for i in at[: len(NAMES)]] == shown[: len(NAMES)]
            numbers = [cells[i] for i in at[len(NAMES) :]]
            for got, wrote in zip(numbers, shown[len(NAMES) :], strict=True):
                assert (got == wrote == "") or float(got) == float(wrote), (got, wrote)
            names = shown[: len(NAMES)]
            neutralised_starts |= {c[1] for c in names if c[1:] in raw and c not in raw}
    # The world's names start with each of the rule's characters, so each was seen.
    assert neutralised_starts == set(queries.FORMULA_STARTS) == set(mw.FORMULA_STARTS)


def test_records_end_with_crlf_and_line_breaks_in_cells_survive(
    app: Engine, world: mw.World
) -> None:
    scope = queries.scope_for_user(app, world.users["single"])
    count, data = export(app, scope, WHOLE)
    inside = 'Quote "q", comma\nand newline'
    in_cells = sum(cells[-1] == inside for cells in parse(data)[1:])
    assert in_cells > 0  # the name with a line break is in this export
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == count + 1
    assert data.replace(b"\r\n", b"").count(b"\n") == in_cells


def copy_csv(records: list[list[str]]) -> bytes:
    """CSV as COPY writes it: quoted only where needed, records ending in a bare \\n."""

    def cell(text: str) -> str:
        if text == "" or any(c in text for c in '",\r\n'):
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(",".join(map(cell, r)) + "\n" for r in records).encode()


@settings(max_examples=50, deadline=None)
@given(
    records=st.lists(
        st.lists(st.text(alphabet="a\",\n\r'=é", max_size=6), min_size=1, max_size=4),
        max_size=8,
    ),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_record_ends_do_not_depend_on_chunk_boundaries(
    records: list[list[str]], cuts: list[int]
) -> None:
    data = copy_csv(records)
    whole = RecordEnds()(data)
    assert whole.count(b"\r\n") - data.count(b"\r\n") == len(records)
    assert list(csv.reader(io.StringIO(whole.decode(), newline=""))) == records
    convert = RecordEnds()
    edges = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
    assert b"".join(convert(data[a:b]) for a, b in zip(edges, edges[1:], strict=False)) == whole


class Writes(io.RawIOBase):
    """A sink that keeps only the sizes of the writes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sizes.append(len(data))
        return len(data)


def test_export_streams_in_bounded_writes(app: Engine, world: mw.World) -> None:
    scope = Scope(user_id=world.users["multi"], company_ids=world.all_company_ids)
    sink = Writes()
    queries.export_csv(app, scope, WHOLE, sink)  # type: ignore[arg-type]
    assert sum(sink.sizes) > 4 * CHUNK_BYTES  # big enough to need several chunks
    assert len(sink.sizes) > 4
    assert max(sink.sizes) < 2 * CHUNK_BYTES


def test_empty_scope_writes_the_header_only(app: Engine, world: mw.World) -> None:
    nothing = Scope(user_id=world.users["none"])
    assert export(app, nothing, WHOLE) == (0, HEADER)
    scope = queries.scope_for_user(app, world.users["single"])
    before = Filters(start=date(2001, 1, 1), end=date(2001, 1, 2))  # selects no row
    assert export(app, scope, before) == (0, HEADER)  # what COPY writes, header and all


class GoesAway(io.RawIOBase):
    """A download whose reader leaves after the header, while rows are being read."""

    def __init__(self) -> None:
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.writes > 1:
            raise BrokenPipeError("the reader went away")
        return len(data)


def test_a_reader_leaving_mid_export_leaves_the_pooled_connection_clean(
    app: Engine, world_app_url: str, world: mw.World
) -> None:
    engine = engines.make_engine(world_app_url, pool_size=1, max_overflow=0)
    scope = Scope(user_id=world.users["multi"], company_ids=world.all_company_ids)
    state = text("SELECT pg_backend_pid(), current_user, current_setting('TimeZone')")
    try:
        with engine.connect() as conn:
            before = conn.execute(state).one()
        assert before[2] != WHOLE.tz  # the export's zone would show if it leaked
        with pytest.raises(BrokenPipeError):
            queries.export_csv(engine, scope, WHOLE, GoesAway())  # type: ignore[arg-type]
        with engine.connect() as conn:
            assert conn.execute(state).one() == before
        assert queries.count_rows(engine, scope, WHOLE) == queries.count_rows(app, scope, WHOLE)
    finally:
        engine.dispose()


@settings(max_examples=100, deadline=None)
@given(
    hours=st.integers(0, 24 * 400),
    per_hour=st.lists(st.integers(0, 100_000), min_size=1, max_size=60),
)
def test_slices_cover_the_period_once_newest_first(hours: int, per_hour: list[int]) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=hours, minutes=7)
    slices = Slices(start, end)
    pieces: list[tuple[datetime, datetime]] = []
    while (piece := slices.next()) is not None:
        hours_long = (piece[1] - piece[0]) / timedelta(hours=1)
        slices.saw(piece, int(per_hour[len(pieces) % len(per_hour)] * hours_long))
        pieces.append(piece)
    assert pieces[0][1] == end and pieces[-1][0] == start
    assert all(lo < hi for lo, hi in pieces)
    assert all(newer[0] == older[1] for newer, older in zip(pieces, pieces[1:], strict=False))


def test_an_export_in_many_slices_reads_one_snapshot_on_two_connections(
    app: Engine, world: mw.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices are read one after another, by this connection and a side one: a row committed
    after the first slice shows in no later one, and none is lost or written twice."""
    monkeypatch.setattr(extracts, "SLICE_ROWS", 40)
    scope = queries.scope_for_user(app, world.users["multi"])
    expected = queries.metric_rows(app, scope, WHOLE)
    owner = create_engine(world.url, poolclass=NullPool)
    copy_into = extracts.Copy.into
    backends: list[int] = []
    mark = json.dumps({"export": "committed meanwhile"})

    def into_then_write(self: Copy, conn: Connection, piece: Piece, write: Any) -> int:
        backends.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        rows = copy_into(self, conn, piece, write)
        if len(backends) == 1:
            with owner.begin() as writer:
                writer.execute(
                    text(
                        "INSERT INTO orchestration_metrics"
                        " (company_id, stage_id, action_count, recorded_at, metadata)"
                        " VALUES (:c, 3, 1, :t, CAST(:mark AS jsonb))"
                    ),
                    {"c": world.companies["acme"], "t": WHOLE.bounds()[0], "mark": mark},
                )
        return rows

    monkeypatch.setattr(extracts.Copy, "into", into_then_write)
    try:
        count, data = export(app, scope, WHOLE)
    finally:
        with owner.begin() as writer:
            writer.execute(
                text("DELETE FROM orchestration_metrics WHERE metadata = CAST(:mark AS jsonb)"),
                {"mark": mark},
            )
        owner.dispose()
    assert len(backends) > 10 and len(set(backends)) == 2
    assert_parses_back(data, count, expected, WHOLE.tz)
