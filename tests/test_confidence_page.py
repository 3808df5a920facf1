"""Overview through AppTest on the metrics world (tests/metrics_world.py, real PostgreSQL): the KPI
tiles carry a low-confidence badge exactly when most of their figures come from rows whose data
quality or confidence score is under the threshold (ORCHDASH_LOW_CONFIDENCE), and a caption of
the share whenever any do; the expected shares are computed in pandas from the generated rows.

The world's scores are drawn uniformly from 0 to 100, so the threshold moves its share of
low-confidence rows from none (0) through some (20) to most (60).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import low_shares
import metrics_world as mw
import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import queries
from dashboard.charts import interventions, theme
from dashboard.ui.auth import SESSION_KEY
from dashboard.web import sessions
from queries import Filters

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
USER = "multi"
START, END = date(2026, 1, 1), date(2026, 3, 20)


def expected_shares(world: mw.World, threshold: float) -> tuple[float, float]:
    """This period's share and the previous period's, as the chairman sees them."""
    user = world.users[USER]
    before = mw.previous_period(START, END)
    return (
        low_shares.share(mw.selected(world, user, START, END, "UTC"), threshold),
        low_shares.share(mw.selected(world, user, *before, "UTC"), threshold),
    )


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def overview(
    world: mw.World, app_url: str, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    monkeypatch.setenv("ORCHDASH_LOW_CONFIDENCE", str(threshold))
    # The threshold is configuration, not a filter: the cached frames of another one must go.
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[SESSION_KEY] = sessions.store().create(world.users[USER], f"{USER}@world.test")
    at.query_params.update({"from": START.isoformat(), "to": END.isoformat()})
    return at.run()


@pytest.mark.parametrize("threshold", [0, 20, 60])
def test_overview_badges_the_tiles_when_most_rows_are_low_confidence(
    world: mw.World, world_app_url: str, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    now, before = expected_shares(world, threshold)
    at = overview(world, world_app_url, monkeypatch, threshold)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert len(at.metric) == 8
    badges = [m.value for m in at.markdown if str(m.value).startswith(":orange-badge[")]
    expected = []
    if now > 0.5:
        expected.append(f"Low confidence: {percent(now)}")
    if before > 0.5:
        expected.append(f"Previous period low confidence: {percent(before)}")
    assert [b.split(" ", 1)[1].removesuffix("]") for b in badges] == expected
    captions = [
        str(c.value).replace("\\", "") for c in at.caption if "data quality" in str(c.value)
    ]
    if now > 0 or before > 0:
        (caption,) = captions
        assert f"under {threshold}" in caption
        assert percent(now) in caption and percent(before) in caption
    else:
        assert captions == []


def test_the_world_spans_none_some_and_most(world: mw.World) -> None:
    """The thresholds above cover each case: otherwise the page test could not fail."""
    assert expected_shares(world, 0) == (0.0, 0.0)
    assert 0 < expected_shares(world, 20)[0] <= 0.5
    assert expected_shares(world, 60)[0] > 0.5


@pytest.mark.parametrize("grain", ["week", "month"])
def test_summed_interventions_carry_the_share_of_the_raw_rows(
    world: mw.World, world_app: Engine, monkeypatch: pytest.MonkeyPatch, grain: str
) -> None:
    """The interventions page sums the query's per-venture groups over ventures (per period)
    and over periods (per venture): their shares must equal the raw rows' shares."""
    monkeypatch.setenv("ORCHDASH_LOW_CONFIDENCE", "60")
    user = world.users[USER]
    f = Filters(start=START, end=END, grain=grain)
    frame = queries.chairman_interventions(world_app, queries.scope_for_user(world_app, user), f)
    rows = mw.selected(world, user, START, END, "UTC")
    rows = rows.assign(bucket=mw.buckets(rows["recorded_at"], grain, "UTC"))

    over_time = interventions.interventions_time_table(frame)
    expected = {
        bucket.tz_localize(None): low_shares.share(group, 60) * 100
        for bucket, group in rows.groupby("bucket")
    }
    assert len(over_time) == len(expected) > 1
    for period, share in zip(over_time[theme.PERIOD], over_time[theme.LOW_SHARE], strict=True):
        assert share == pytest.approx(expected[period], abs=1e-9)

    per_venture = interventions.interventions_venture_table(frame)
    named = rows.assign(venture=rows["venture"].fillna(theme.NO_VENTURE))
    by_venture = {
        (company, venture): low_shares.share(group, 60) * 100
        for (company, venture), group in named.groupby(["company", "venture"])
    }
    assert len(per_venture) == len(by_venture) > 1
    for company, venture, share in zip(
        per_venture[theme.COMPANY],
        per_venture[theme.VENTURE],
        per_venture[theme.LOW_SHARE],
        strict=True,
    ):
        assert share == pytest.approx(by_venture[(company, venture)], abs=1e-9)
