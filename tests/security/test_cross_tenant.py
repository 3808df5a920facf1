"""Case 1, cross-tenant: every page, chart, option list, total and CSV holds only the companies of
the user's active scope, as the database's owner reads it; other tenants' ids in a link read
exactly like ids that do not exist.

Pages are drawn with AppTest as A (C1 active, C2 inactive), B (C3), Z (nothing) and R (C1). The
browser half (Overview and the streamed Export in Chromium) is in test_rendering.py.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from dashboard.charts import format as fmt
from dashboard.ui import data
from security import apptest
from security import world as w
from security.elements import Download, Snapshot, fingerprint, owners, read_csv

TODAY = date.today()
# The default period of a link without dates: Last 30 days.
START, END = TODAY - timedelta(days=29), TODAY


def column_sum(download: Download, column: str) -> int:
    header, *rows = read_csv(download.data)
    index = header.index(column)
    return sum(int(float(row[index])) for row in rows if row[index])


def assert_totals(shot: Snapshot, title: str, expected: dict[str, int]) -> None:
    """Each page's totals equal the owner's sums over the scope's rows: no other rows count."""
    if title == "Overview":
        assert shot.metrics["Actions"] == fmt.number(expected["actions"])
        assert shot.metrics["Chairman interventions"] == fmt.number(expected["interventions"])
        header, *rows = read_csv(shot.download("kpis").data)
        this_period = {row[0]: row[header.index("This period")] for row in rows}
        assert float(this_period["Actions"]) == expected["actions"]
    elif title == "Stage durations":
        assert column_sum(shot.download("stage-durations"), "Rows") == expected["staged"]
    elif title in ("Error rates", "Handoff efficiency"):
        stem = apptest_slug(title)
        assert column_sum(shot.download(stem), "Actions") == expected["actions"]
        assert (
            column_sum(shot.download(f"{stem}-by-stage"), "Actions") == (expected["staged_actions"])
        )
    elif title == "Chairman interventions":
        over_time = shot.download("chairman-interventions")
        assert column_sum(over_time, "Interventions") == expected["interventions"]
        assert column_sum(over_time, "Actions") == expected["actions"]
    elif title == "Export":
        assert shot.metrics["Rows selected"] == fmt.number(expected["rows"])
    # Any other page is held to its names and ids alone (see below).


def apptest_slug(title: str) -> str:
    return title.lower().replace(" ", "-")


@pytest.mark.parametrize("user", w.USERS)
@pytest.mark.parametrize(("file", "title"), apptest.PAGES)
def test_every_page_holds_only_the_users_active_companies(
    app_env: str, hostile_world: w.World, owner: Engine, user: str, file: str, title: str
) -> None:
    scope = w.active_scope(owner, hostile_world.users[user])
    shot = apptest.page(hostile_world, user, file)
    assert not shot.exceptions and not shot.alerts("error")
    assert shot.titles == [title]

    found = owners(shot, hostile_world)
    assert found.companies <= scope, {n: c for n, c in found.by_name.items() if c - scope}
    assert not found.unknown_ids
    names = hostile_world.company_names
    assert set(shot.options("Companies")) == {names[c] for c in scope}
    assert set(shot.options("Ventures")) == {
        name
        for v, name in hostile_world.ventures.items()
        if hostile_world.venture_company[v] in scope
    }
    if not scope:
        assert shot.alerts("info") == [data.NO_ACCESS]
        assert not (shot.charts or shot.frames or shot.downloads or shot.links or shot.metrics)
        return
    expected = w.expected(owner, scope, START, END)
    assert_totals(shot, title, expected)
    for link in shot.links:  # the Export page's streamed CSV, as its link serves it
        header, *rows = read_csv(apptest.routes_client(hostile_world, user).get(link).content)
        assert len(rows) == expected["rows"]
        assert {row[header.index("company_id")] for row in rows} == scope
    if title != "Stage durations":  # the only page without names or ids: its totals say it all
        assert found.companies == scope  # the test would see another tenant's names: not vacuous


FOREIGN = {
    # label: (company id, venture id) typed into a link by A
    "another tenant's": ("C3", "C3"),
    "own inactive": ("C2", "C2"),
    "nobody's venture": ("C3", None),
}


def typed_ids(world: w.World, label: str) -> tuple[str, str]:
    company_label, venture_label = FOREIGN[label]
    company = world.companies[company_label]
    owner_of_venture = world.companies[venture_label] if venture_label else None
    venture = next(v for v, c in world.venture_company.items() if c == owner_of_venture)
    return company, venture


def drawn(world: w.World, user: str, file: str, company: str, venture: str) -> list[str]:
    """The page of a link with these ids, the ids themselves replaced by placeholders."""
    shot = apptest.page(world, user, file, {"company": company, "venture": venture})
    assert not shot.exceptions and len(shot.alerts("warning")) == 1
    placeholders = {}
    for typed, placeholder in ((company, "COMPANY"), (venture, "VENTURE")):
        placeholders[fmt.markdown_text(typed)] = placeholder
        placeholders[typed] = placeholder
    return fingerprint(shot, placeholders)


def unknown_ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


@pytest.mark.parametrize(("file", "title"), apptest.PAGES)
def test_other_tenants_ids_in_a_link_read_exactly_like_unknown_ids(
    app_env: str, hostile_world: w.World, file: str, title: str
) -> None:
    unknown = drawn(hostile_world, "A", file, *unknown_ids())
    for label in FOREIGN:
        typed = typed_ids(hostile_world, label)
        assert drawn(hostile_world, "A", file, *typed) == unknown, label


def test_b_reads_a_link_to_c1_like_one_to_unknown_ids(app_env: str, hostile_world: w.World) -> None:
    c1 = hostile_world.companies["C1"]
    c1_venture = next(v for v, c in hostile_world.venture_company.items() if c == c1)
    unknown = drawn(hostile_world, "B", "overview.py", *unknown_ids())
    assert drawn(hostile_world, "B", "overview.py", c1, c1_venture) == unknown
