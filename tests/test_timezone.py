"""The chosen time zone reaches the buckets, the CSV and the export receipt (metrics world).

Expected figures come from the world's rows in pandas, converted to the zone independently.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import metrics_world as mw
import pandas as pd
import pytest
import test_routes as routes_tests
from sqlalchemy import Engine
from starlette.testclient import TestClient
from test_routes import export, export_link, link_of, signed_in, world_filters

import queries
from dashboard.ui import period_presets
from dashboard.web import tokens
from dashboard.web.sessions import SessionStore
from queries import Filters, Scope, audit

store = routes_tests.store
client = routes_tests.client

PERIOD = {"start": date(2026, 1, 1), "end": date(2026, 2, 28)}


def day_counts(world: mw.World, user: str, tz: str) -> pd.Series:
    """Rows per local day of ``tz``: the period's bounds and the days computed in pandas."""
    rows = mw.selected(world, user, PERIOD["start"], PERIOD["end"], tz)
    local = rows["recorded_at"].dt.tz_convert(tz)
    days = local.dt.tz_localize(None).dt.normalize().dt.tz_localize(tz)
    return days.value_counts().sort_index()


def test_day_buckets_follow_the_zone(world_app: Engine, world: mw.World) -> None:
    user = world.users["multi"]
    scope = queries.scope_for_user(world_app, user)
    trends = {}
    for tz in ("UTC", "Asia/Kolkata"):
        trend = queries.kpi_trend(world_app, scope, Filters(**PERIOD, grain="day", tz=tz))
        assert all(str(b.tzinfo) == tz for b in trend["bucket"])
        assert all((b.hour, b.minute) == (0, 0) for b in trend["bucket"])
        actual = trend.set_index("bucket")["rows"]
        expected = day_counts(world, user, tz)
        assert actual.to_dict() == expected.to_dict()
        trends[tz] = {b.date(): n for b, n in actual.items()}
    # The world clusters rows around both midnights: the same dates hold different rows.
    shared = trends["UTC"].keys() & trends["Asia/Kolkata"].keys()
    assert sum(trends["UTC"][d] != trends["Asia/Kolkata"][d] for d in shared) > len(shared) / 2


def test_csv_timestamps_are_written_in_the_zone(world_app: Engine, world: mw.World) -> None:
    user = world.users["single"]
    scope = queries.scope_for_user(world_app, user)
    f = Filters(**PERIOD, tz="Asia/Kolkata")
    out = io.BytesIO()
    assert queries.export_csv(world_app, scope, f, out) > 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode(), newline="")))
    expected = mw.selected(world, user, f.start, f.end, f.tz).set_index("metric_id")
    assert len(rows) == len(expected)
    for row in rows:
        stamp = datetime.fromisoformat(row["recorded_at"])
        assert stamp.utcoffset() == pd.Timedelta(hours=5, minutes=30)
        assert stamp == expected.loc[row["metric_id"], "recorded_at"]


def test_the_export_link_and_its_receipt_carry_zone_and_agents(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "multi")
    f = world_filters(world, tz="America/New_York", agents=("planner",), agents_match="all")
    link = link_of(export_link(world_app, user, f))
    grant = tokens.open_export_link(world_app, link, user.session_id)
    assert grant is not None and grant.filters == f
    response = export(client, world_app, user, f)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    selected = mw.selected(world, user.user_id, f.start, f.end, f.tz)
    planner = selected[
        selected["agents_involved"].map(lambda a: isinstance(a, list) and "planner" in a)
    ]
    assert 0 < len(rows) == len(planner) < len(selected)
    offsets = {datetime.fromisoformat(row["recorded_at"]).utcoffset() for row in rows}
    assert offsets <= {timedelta(hours=-5), timedelta(hours=-4)} and offsets
    mine = audit.my_exports(world_app, Scope(user_id=user.user_id))
    receipt = audit.Receipt.from_audit(mine[mine["action"] == "export"].iloc[0].to_dict())
    assert receipt.time_zone == "America/New_York"
    assert receipt.filters["tz"] == "America/New_York"
    assert (receipt.filters["agents"], receipt.filters["agents_match"]) == (["planner"], "all")
    assert receipt.row_count == len(rows)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_all_time_is_read_in_the_zone(world_app: Engine, world: mw.World, tz: str) -> None:
    user = world.users["multi"]
    first, last = queries.data_range(world_app, queries.scope_for_user(world_app, user))
    stamps = world.rows[world.rows["company_id"].isin(world.active(user))]["recorded_at"]
    span = period_presets.all_time_range(first, last, date(2026, 11, 26), tz)
    assert span == (
        stamps.min().tz_convert(tz).date(),
        stamps.max().tz_convert(tz).date(),
    )
