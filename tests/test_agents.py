"""The agent filter and the agents' figures, against pandas on the metrics world, and their scope.

The world's rows name agents from a small list (among them ``=evil()``, ``a,b`` and a row that
names ``planner`` twice), some rows have an empty list or none. The expected figures come from
``world.rows`` in pandas, never from the database.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import metrics_world as mw
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from queries import Filters, InvalidFilter, Scope, config, engines, folding, schema
from queries.criteria import MAX_AGENT_NAME, MAX_AGENTS

D1, D2 = date(2026, 1, 1), date(2026, 1, 31)
WORLD_AGENTS = ("planner", "=evil()", "-minus", "reviewer", "a,b")


# ---- validation --------------------------------------------------------------------------------


def test_agents_are_normalised() -> None:
    f = Filters(start=D1, end=D2, agents=["reviewer", "=evil()", "reviewer"], agents_match=" ALL ")
    assert f.agents == ("=evil()", "reviewer")
    assert f.agents_match == "all"
    assert Filters(start=D1, end=D2).agents == ()
    assert Filters(start=D1, end=D2).agents_match == "any"


@pytest.mark.parametrize(
    "value",
    ["", "a\x00b", "line\nbreak", "tab\there", "x" * (MAX_AGENT_NAME + 1), 5, None, b"x", ["x"]],
    ids=repr,
)
def test_bad_agent_names_are_refused(value: Any) -> None:
    with pytest.raises(InvalidFilter) as raised:
        Filters(start=D1, end=D2, agents=[value])
    assert "Agent names are" in raised.value.user_message
    assert len(raised.value.user_message) < 200


@pytest.mark.parametrize("value", ["some", "", None, 1, ["any"], "any of"], ids=repr)
def test_bad_match_is_refused(value: Any) -> None:
    with pytest.raises(InvalidFilter) as raised:
        Filters(start=D1, end=D2, agents_match=value)
    assert raised.value.user_message.startswith("Agents match must be any or all")


def test_agents_must_be_a_list_of_bounded_length() -> None:
    with pytest.raises(InvalidFilter):
        Filters(start=D1, end=D2, agents="planner")
    with pytest.raises(InvalidFilter, match="Too many agents"):
        Filters(start=D1, end=D2, agents=[f"a{i}" for i in range(MAX_AGENTS + 1)])


# ---- equality with pandas on the metrics world ---------------------------------------------------


@pytest.fixture(scope="module")
def app(world_app: Engine) -> Engine:
    return world_app


def involving(rows: pd.DataFrame, agents: tuple[str, ...], match: str) -> pd.DataFrame:
    """The rows whose agents_involved holds any (all) of ``agents``; all rows without agents."""
    if not agents:
        return rows
    wanted = set(agents)

    def keep(names: Any) -> bool:
        if not isinstance(names, list):
            return False
        held = {n for n in names if n is not None}
        return wanted <= held if match == "all" else bool(wanted & held)

    return rows[rows["agents_involved"].map(keep).astype(bool)]


def chosen(world: mw.World, user: str, f: Filters, start: date | None = None) -> pd.DataFrame:
    first, last = (f.start, f.end) if start is None else (start, f.start - timedelta(days=1))
    rows = mw.selected(world, user, first, last, f.tz, f.company_ids, f.venture_ids, f.stages)
    return involving(rows, f.agents, f.agents_match)


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if pd.isna(a) and pd.isna(b):
            return True
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def assert_measures(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    wrong = {k: (actual[k], v) for k, v in expected.items() if not close(actual[k], v)}
    assert not wrong, wrong


CASES = [
    ((), "any", "UTC"),
    (("planner",), "any", "UTC"),
    (("planner",), "all", "Asia/Kolkata"),
    (("=evil()", "reviewer"), "any", "America/New_York"),
    (("a,b", "planner"), "all", "UTC"),
    (("a,b", "planner"), "any", "Asia/Kolkata"),
    (("nobody-has-me",), "any", "UTC"),
]


@pytest.mark.parametrize(("agents", "match", "tz"), CASES)
def test_every_query_honours_the_agent_filter(
    app: Engine, world: mw.World, agents: tuple[str, ...], match: str, tz: str
) -> None:
    user = world.users["multi"]
    scope = queries.scope_for_user(app, user)
    f = Filters(
        start=date(2026, 1, 10),
        end=date(2026, 2, 20),
        grain="week",
        tz=tz,
        agents=agents,
        agents_match=match,
    )
    rows = chosen(world, user, f)
    before = chosen(world, user, f, start=f.previous().start)
    if agents and agents != ("nobody-has-me",):
        # Not vacuous: the filter keeps some rows and drops others.
        assert 0 < len(rows) < len(chosen(world, user, Filters(start=f.start, end=f.end, tz=tz)))

    # Totals and rates (raw rows whenever agents are chosen), this period and the previous one.
    kpis = queries.kpis(app, scope, f).iloc[0].to_dict()
    expected = mw.measures(rows)
    assert_measures(kpis, expected | {f"prev_{k}": v for k, v in mw.measures(before).items()})
    assert queries.count_rows(app, scope, f) == len(rows)

    # Buckets per venture.
    per_venture = queries.error_rates(app, scope, f)
    assert int(per_venture["rows"].sum()) == len(rows)
    assert int(per_venture["actions"].sum()) == expected["actions"]

    # Raw rows, and the percentiles (raw whenever agents are chosen).
    assert sorted(queries.metric_rows(app, scope, f)["metric_id"]) == sorted(rows["metric_id"])
    durations = queries.stage_durations(app, scope, f).set_index("stage_id")
    for stage in (1, 2, 3, 8):
        values = rows[rows["stage_id"] == stage]["stage_duration"].dropna()
        assert durations.loc[stage, "measured"] == len(values)
        if len(values):
            assert close(durations.loc[stage, "p50_s"], float(np.percentile(values, 50)))

    # The heatmap's cells: rows with a venture and a stage.
    cells = queries.venture_stage_health(app, scope, f)
    assert int(cells["rows"].sum()) == int(
        (rows["venture_id"].notna() & rows["stage_id"].notna()).sum()
    )


def activity_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Per agent: each row counts once for each distinct agent it names."""
    records = []
    for r in rows.to_dict("records"):
        names = r["agents_involved"] if isinstance(r["agents_involved"], list) else []
        for name in dict.fromkeys(n for n in names if n is not None):
            records.append(
                {
                    "agent": name,
                    "actions": 0 if pd.isna(r["action_count"]) else int(r["action_count"]),
                    "utilization": r["agent_utilization"],
                    "response_s": r["agent_response_time"],
                }
            )
    frame = pd.DataFrame(records, columns=["agent", "actions", "utilization", "response_s"])
    grouped = frame.groupby("agent", sort=True)
    return pd.DataFrame(
        {
            "rows": grouped.size(),
            "actions": grouped["actions"].sum(),
            "utilization": grouped["utilization"].mean(),
            "response_s": grouped["response_s"].mean(),
        }
    ).reset_index()


NARROWED = [
    ((), "any", "UTC", {"stages": (1, 2, 3)}),
    (("planner",), "all", "UTC", {"stages": (2, 7)}),
    (("=evil()",), "any", "UTC", {"ventures": 2}),
    ((), "any", "Asia/Kolkata", {"ventures": 2, "stages": (1, 2, 3, 4)}),
]


@pytest.mark.parametrize(("agents", "match", "tz", "narrow"), [(*c, {}) for c in CASES] + NARROWED)
def test_agent_activity_equals_pandas(
    app: Engine,
    world: mw.World,
    agents: tuple[str, ...],
    match: str,
    tz: str,
    narrow: dict[str, Any],
) -> None:
    user = world.users["multi"]
    ventures = world.ventures[world.ventures["company_id"].isin(world.active(user))]
    f = Filters(
        start=date(2025, 12, 20),
        end=date(2026, 3, 20),
        tz=tz,
        agents=agents,
        agents_match=match,
        stages=narrow.get("stages", ()),
        venture_ids=tuple(ventures["venture_id"][: narrow.get("ventures", 0)]),
    )
    actual = queries.agent_activity(app, queries.scope_for_user(app, user), f)
    expected = activity_of(chosen(world, user, f))
    assert list(actual.columns) == ["agent", "rows", "actions", "utilization", "response_s"]
    assert list(actual["agent"]) == list(expected["agent"])
    for got, want in zip(actual.to_dict("records"), expected.to_dict("records"), strict=True):
        assert_measures(got, want)
    if not agents and not narrow:
        assert set(actual["agent"]) == set(WORLD_AGENTS)
        # A row naming several agents counts for each: the agents' rows add up to more.
        assert actual["rows"].sum() > len(involving(chosen(world, user, f), WORLD_AGENTS, "any"))


def test_agents_lists_what_each_users_rows_name(app: Engine, world: mw.World) -> None:
    for label, user in world.users.items():
        visible = world.active(user)
        rows = world.rows[world.rows["company_id"].isin(visible)]
        expected = sorted(
            {n for names in rows["agents_involved"] if isinstance(names, list) for n in names}
            - {None}
        )
        assert queries.agents(app, queries.scope_for_user(app, user)) == expected, label
    assert queries.agents(app, Scope(user_id=world.users["none"])) == []


def test_rollup_zone_is_the_stored_one(app: Engine, world: mw.World) -> None:
    scope = queries.scope_for_user(app, world.users["multi"])
    with create_engine(world.url, poolclass=NullPool).connect() as owner:
        stored = owner.execute(text("SELECT zone FROM orchdash.rollup_settings")).scalar_one()
    assert queries.rollup_zone(app, scope) == stored


# ---- scope: agents of other companies are never listed -----------------------------------------


X, Y, Z = (str(uuid.UUID(int=0xA0 + i)) for i in range(3))
USER = str(uuid.UUID(int=0xB0))


@dataclass(frozen=True)
class AgentWorld:
    owner_url: str
    app: Engine


@pytest.fixture(scope="module")
def agent_world(new_database: Callable[[str], str]) -> Iterator[AgentWorld]:
    """Companies X (the user's), Y (the user's, inactive) and Z (nobody's), each with an agent
    of its own and one they share."""
    url = new_database("orchdash_agents")
    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    day = datetime(2026, 1, 15, 12, tzinfo=UTC)
    with owner.begin() as conn:
        conn.execute(
            text("INSERT INTO auth.users (id, email) VALUES (:id, 'x@agents.test')"), {"id": USER}
        )
        conn.execute(
            text("INSERT INTO companies (id, name) VALUES (:id, :name)"),
            [{"id": c, "name": f"company {c[-2:]}"} for c in (X, Y, Z)],
        )
        conn.execute(
            text(
                "INSERT INTO user_company_access (user_id, company_id, is_active)"
                " VALUES (:u, :c, :a)"
            ),
            [{"u": USER, "c": X, "a": True}, {"u": USER, "c": Y, "a": False}],
        )
        conn.execute(
            text(
                "INSERT INTO orchestration_metrics (company_id, stage_id, recorded_at,"
                " agents_involved, action_count, agent_utilization)"
                " VALUES (:c, 1, :t, :agents, 5, 50)"
            ),
            [
                {"c": c, "t": day, "agents": [own, "shared"]}
                for c, own in ((X, "x-only"), (Y, "y-only"), (Z, "z-only"))
            ],
        )
    owner.dispose()
    app = engines.make_engine(
        engines.as_role(url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    )
    yield AgentWorld(owner_url=url, app=app)
    app.dispose()


def test_other_companies_agents_are_never_listed(agent_world: AgentWorld) -> None:
    engine = agent_world.app
    scope = queries.scope_for_user(engine, USER)
    assert scope.company_ids == (X,)
    assert queries.agents(engine, scope) == ["shared", "x-only"]
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31), tz="UTC")
    activity = queries.agent_activity(engine, scope, f)
    assert list(activity["agent"]) == ["shared", "x-only"]
    assert list(activity["rows"]) == [1, 1]
    # Asking for another company's agent selects nothing, like an unknown one.
    for name in ("y-only", "z-only", "unknown"):
        narrowed = Filters(start=f.start, end=f.end, tz="UTC", agents=(name,))
        assert queries.count_rows(engine, scope, narrowed) == 0
        assert queries.agent_activity(engine, scope, narrowed).empty


def test_row_level_security_alone_hides_other_companies_agents(
    agent_world: AgentWorld,
) -> None:
    engine = agent_world.app
    # A scope that (wrongly) names every company: the explicit filter lets them through, RLS
    # as the user still shows only X's rows.
    forged = Scope(user_id=USER, company_ids=(X, Y, Z))
    assert queries.agents(engine, forged) == ["shared", "x-only"]
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31), tz="UTC")
    assert list(queries.agent_activity(engine, forged, f)["agent"]) == ["shared", "x-only"]


# ---- the agent rollup (migration 0007) stays exact through writes --------------------------------


def owner_sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


def test_writes_keep_the_agent_rollup_exact(agent_world: AgentWorld) -> None:
    engine = agent_world.app
    owner = create_engine(agent_world.owner_url, poolclass=NullPool)
    scope = queries.scope_for_user(engine, USER)
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31), tz="UTC")
    # Every row lies mid-month: in Kolkata the same dates hold the same rows, read raw (the
    # rollup's zone is UTC); stage 1 (every row's) reads the rollup's finer grain.
    raw = replace(f, tz="Asia/Kolkata")
    fine = replace(f, stages=(1,))
    day = datetime(2026, 1, 20, 9, tzinfo=UTC)
    try:
        # 150 single-row statements on one day; the sums stay those of the rows.
        for i in range(150):
            owner_sql(
                owner,
                "INSERT INTO orchestration_metrics (company_id, stage_id, recorded_at,"
                " agents_involved, action_count, agent_utilization, agent_response_time)"
                " VALUES (:c, 1, :t, :agents, :n, :u, make_interval(secs => :n))",
                c=X,
                t=day + timedelta(seconds=i),
                agents=["x-only", "late"] if i % 3 else ["late"],
                n=i,
                u=i % 100,
            )

        # Writers only append (migration 0009): the day piles up entries, exact all the same.
        def entries(day: str) -> int:
            [(n,)] = owner_sql(
                owner,
                "SELECT count(*) FROM orchdash.agent_totals WHERE day = CAST(:d AS date)",
                d=day,
            )
            return int(n)

        assert entries("2026-01-20") > 150
        piled = queries.agent_activity(engine, scope, f)
        assert_same(piled, queries.agent_activity(engine, scope, raw))
        # The scheduled fold merges them: a few entries per key, for the day and for the lists
        # over all days (what the Agents picker reads).
        folding.fold(owner)
        assert 0 < entries("2026-01-20") <= 70
        assert 0 < entries("-infinity") <= 70
        rolled = queries.agent_activity(engine, scope, f)
        assert_same(rolled, piled)
        assert_same(rolled, queries.agent_activity(engine, scope, raw))
        assert_same(rolled, queries.agent_activity(engine, scope, fine))
        late = rolled.set_index("agent").loc["late"]
        assert (late["rows"], late["actions"]) == (150, sum(range(150)))
        assert math.isclose(late["utilization"], sum(i % 100 for i in range(150)) / 150)
        assert math.isclose(late["response_s"], sum(range(150)) / 150)

        # Updates and deletes: an agent whose rows all go is no longer listed.
        owner_sql(
            owner,
            "UPDATE orchestration_metrics SET agents_involved = ARRAY['renamed']"
            " WHERE agents_involved = ARRAY['late']",
        )
        assert "renamed" in queries.agents(engine, scope)
        owner_sql(owner, "DELETE FROM orchestration_metrics WHERE agents_involved @> ARRAY['late']")
        assert "late" not in queries.agents(engine, scope)
        assert_same(
            queries.agent_activity(engine, scope, f),
            queries.agent_activity(engine, scope, raw),
        )
        assert_same(
            queries.agent_activity(engine, scope, fine),
            queries.agent_activity(engine, scope, raw),
        )
        # A rebuild gives the same answers.
        before = queries.agent_activity(engine, scope, f)
        owner_sql(owner, "SELECT orchdash.agent_rebuild()")
        assert_same(before, queries.agent_activity(engine, scope, f))
        # Rebuilt in another zone, the rollup serves that zone; the raw rows (UTC now) agree.
        owner_sql(owner, "SELECT orchdash.agent_rebuild('Asia/Kolkata')")
        assert_same(
            queries.agent_activity(engine, scope, raw), queries.agent_activity(engine, scope, f)
        )
    finally:
        owner_sql(owner, "DELETE FROM orchestration_metrics WHERE recorded_at::date = '2026-01-20'")
        owner_sql(owner, "SELECT orchdash.agent_rebuild('UTC')")
        owner.dispose()


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["agent"]) == list(b["agent"])
    for x, y in zip(a.to_dict("records"), b.to_dict("records"), strict=True):
        assert_measures(x, y)
