"""Low-confidence shares (``low_share``) of every totals frame against pandas on the world.

The shared world is never folded: in the rollup zone (UTC) at the stored threshold the frames
count its rows from the rollup log at the threshold stored in orchdash.rollup_settings; in any
other zone or at any other threshold from the raw rows at the threshold asked. Both must equal
the pandas figures of tests/low_shares.py. test_rollup.py proves the folded rollups equal to
these answers, through writes and at another rollup threshold.
"""

from __future__ import annotations

import math
from datetime import timedelta

import low_shares
import metrics_world as mw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from queries import Filters, transactions
from queries.errors import InvalidFilter
from queries.low_confidence import default_threshold

GIVEN = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
THRESHOLDS = (None, 0.0, 37.5, 60.0, 100.0)


@GIVEN
@given(data=st.data(), threshold=st.sampled_from(THRESHOLDS))
def test_low_shares_equal_pandas(
    world_app: Engine, world: mw.World, data: st.DataObject, threshold: float | None
) -> None:
    user, f = data.draw(mw.choices(world))
    scope = queries.scope_for_user(world_app, user)
    got = low_shares.actual(world_app, scope, f, threshold)
    low_shares.assert_same(got, low_shares.expected(world, user, f, threshold))


def test_low_shares_are_not_vacuous(world_app: Engine, world: mw.World) -> None:
    user = world.users["multi"]
    scope = queries.scope_for_user(world_app, user)
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, grain="month", tz="UTC")
    shares = {t: low_shares.actual(world_app, scope, f, t) for t in (None, 0.0, 37.5, 100.0)}
    middle = shares[None]["kpis"]["low_share"]
    assert 0 < middle < 1
    assert shares[0.0]["kpis"]["low_share"] == 0
    assert shares[37.5]["kpis"]["low_share"] < middle < shares[100.0]["kpis"]["low_share"]
    # A stage whose rows have no actions falls back to rows; some do exist in the world.
    rates = queries.stage_rates(world_app, scope, f)
    assert rates["low_share"].notna().all() and rates["low_share"].nunique() > 10


def test_the_rollups_count_at_the_configured_threshold(world: mw.World) -> None:
    owner = create_engine(world.url, poolclass=NullPool)
    with owner.connect() as conn:
        stored = conn.execute(text("SELECT low_threshold FROM orchdash.rollup_settings")).scalar()
    owner.dispose()
    assert float(stored) == default_threshold()


@pytest.mark.parametrize("threshold", [-1, 100.5, "x", float("nan")])
def test_threshold_is_checked(world_app: Engine, world: mw.World, threshold: object) -> None:
    scope = queries.scope_for_user(world_app, world.users["multi"])
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY)
    for name in ("kpis", "kpi_trend", "stage_rates", "stage_durations", *low_shares.PER_VENTURE):
        with pytest.raises(InvalidFilter):
            getattr(queries, name)(world_app, scope, f, threshold=threshold)


@pytest.mark.parametrize("user", sorted(mw.ACCESS))
def test_low_sums_are_read_under_the_metrics_policy(
    world_app: Engine, world: mw.World, user: str
) -> None:
    """As each user, the log's and the rollups' low rows of the companies they see only; their
    total equals the raw count of low-confidence rows in those companies."""
    uid = world.users[user]
    with transactions.scoped(world_app, uid) as conn:
        seen = conn.execute(
            text(
                "SELECT CAST(company_id AS text), sum(low_rows) FROM ("
                " SELECT company_id, sign * low_rows AS low_rows FROM orchdash.log_facts"
                " UNION ALL SELECT company_id, low_rows FROM orchdash.metric_totals"
                " WHERE span = 'month' AND NOT by_stage) AS x GROUP BY 1"
            )
        ).all()
    rows = world.rows[world.rows["recorded_at"].notna()]
    low = rows[low_shares.is_low(rows, default_threshold())]
    want = low[low["company_id"].isin(world.active(uid))].groupby("company_id").size()
    assert {c: int(n) for c, n in seen if n} == {c: int(n) for c, n in want.items()}
    assert user != "multi" or len(want) == 3


def test_empty_groups_have_no_share(world_app: Engine, world: mw.World) -> None:
    scope = queries.scope_for_user(world_app, world.users["multi"])
    later = mw.LAST_DAY + timedelta(days=400)
    nothing = Filters(start=later, end=later)
    kpis = queries.kpis(world_app, scope, nothing)
    assert math.isnan(kpis["low_share"].iloc[0]) and math.isnan(kpis["prev_low_share"].iloc[0])
