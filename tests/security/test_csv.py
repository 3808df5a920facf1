"""Case 6, CSV: every download a page offers, and the streamed export of its link, read back by a
CSV reader: hostile text cells are text (prefixed with '), negative numbers stay numbers, line
breaks inside cells are quoted, records end with CRLF, and file names carry no data.

The streamed export's values against metric_rows are in tests/test_export.py; this file checks
the files exactly as A and B download them from the pages of the hostile world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from security import apptest
from security import world as w
from security.elements import Download, read_csv

IN_PAGE_NAME = re.compile(r"[a-z0-9-]+_\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.csv")
EXPORT_NAME = re.compile(
    r'attachment; filename="orchestration-metrics_\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}_'
    r'\d{8}T\d{6}Z\.csv"'
)
FORMULA_NAMES = {n for n in w.HOSTILE + (w.LINE_BREAK,) if n.startswith(w.FORMULA_STARTS)}
TEXT_NAMES = {n for n in w.HOSTILE + (w.LINE_BREAK,) if n not in FORMULA_NAMES}


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@dataclass
class Seen:
    negatives: int = 0
    names: set[str] = field(default_factory=set)  # hostile names, as written


def check(data: bytes, seen: Seen) -> None:
    """One file: CRLF records, no cell a spreadsheet would run, hostile names as text."""
    records = read_csv(data)
    assert len(records) > 1
    cells = {cell for record in records for cell in record}
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == len(records)
    for record in records:
        for cell in record:
            if cell.startswith(w.FORMULA_STARTS):
                # Only a negative number may start like a formula: it is a number.
                assert cell.startswith("-") and is_number(cell), repr(cell)
                seen.negatives += 1
            name = cell.removeprefix("'")
            if name in FORMULA_NAMES:
                assert cell == "'" + name, repr(cell)
                seen.names.add(name)
            elif cell in TEXT_NAMES:
                seen.names.add(cell)
    if w.LINE_BREAK in cells:  # quoted, with its line break kept inside the cell
        assert b'"Quote ""q"", comma\nand newline"' in data


@pytest.mark.parametrize("user", ["A", "B"])
def test_every_download_is_safe_in_a_spreadsheet(
    app_env: str, hostile_world: w.World, user: str
) -> None:
    in_page: list[Download] = []
    links: list[str] = []
    for file, _ in apptest.PAGES:
        shot = apptest.page(hostile_world, user, file)
        in_page += shot.downloads
        links += shot.links
    assert len(in_page) >= 10 and len(links) == 1

    seen = Seen()
    for download in in_page:
        assert IN_PAGE_NAME.fullmatch(download.file_name), download.file_name
        assert download.data.startswith("\ufeff".encode())  # UTF-8 for spreadsheets
        check(download.data, seen)
    client = apptest.routes_client(hostile_world, user)
    response = client.get(links[0])
    assert response.status_code == 200
    assert EXPORT_NAME.fullmatch(response.headers["content-disposition"])
    check(response.content, seen)

    assert seen.negatives > 0  # refunds: negative costs, written as numbers
    scope = {hostile_world.companies[c] for c, active in w.ACCESS[user].items() if active}
    hostile_here = hostile_world.names_of(scope) & (FORMULA_NAMES | TEXT_NAMES)
    assert seen.names == hostile_here  # every hostile name of the user's companies was checked
