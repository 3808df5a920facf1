"""What the benchmark asks: each page's query calls, and varied filters for a chairman.

A page's calls mirror dashboard/ui/layout.py (scope, the pickers' companies, ventures and agents,
the rollup zone, the data range: every page), then the loads of its first draw as the registry
(dashboard/ui/pages.py) lists them, with the options its script in dashboard/app_pages/ passes
(made directly, without Streamlit's cache, so that every figure is the query layer's own cost).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

import queries
from dashboard.ui import pages
from queries import Filters, Scope

# The options a page passes to its loads (dashboard/app_pages/): the first draw's calls are
# the registry's (dashboard/ui/pages.py), in its order.
OPTIONS: dict[str, dict[str, Any]] = {
    "venture_attention": {"limit": 5},
    "metric_rows": {"limit": 100},
}
# title -> the page's own calls: (query function, keyword options)
PAGES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    p.title: [(name, OPTIONS.get(name, {})) for name in p.loads] for p in pages.PAGES
}
PERIODS = ("90 days", "all time")
# The live case (issue #17) adds the dashboard's default period.
LIVE_PERIODS = ("30 days", *PERIODS)


def run_page(
    engine: Engine,
    user_id: str,
    f: Filters,
    page: str,
    calling: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every query call of the page, in its order; returns each call's answer by name.
    ``calling`` (if given) is told the name of each page load before it runs."""
    scope = queries.scope_for_user(engine, user_id)
    out: dict[str, Any] = {
        "companies": queries.companies(engine, scope),
        "ventures": queries.ventures(engine, scope),
        "data_range": queries.data_range(engine, scope),
        "agents": queries.agents(engine, scope),
        "rollup_zone": queries.rollup_zone(engine, scope),
    }
    for name, options in PAGES[page]:
        if calling is not None:
            calling(name)
        out[name] = getattr(queries, name)(engine, scope, f, **options)
    out["scope"] = scope
    return out


@dataclass(frozen=True)
class Tenant:
    """What the chairman can choose from: companies, their ventures, the data's days."""

    user_id: str
    company_ids: tuple[str, ...]
    ventures: dict[str, tuple[str, ...]]  # company id -> venture ids
    first_day: date
    last_day: date

    @classmethod
    def of(cls, engine: Engine, user_id: str) -> Tenant:
        scope = queries.scope_for_user(engine, user_id)
        picks = queries.ventures(engine, scope)
        first, last = queries.data_range(engine, scope)
        assert first is not None and last is not None
        by_company: dict[str, list[str]] = {}
        for row in picks.itertuples():
            by_company.setdefault(str(row.company_id), []).append(str(row.venture_id))
        return cls(
            user_id=user_id,
            company_ids=scope.company_ids,
            ventures={c: tuple(v) for c, v in by_company.items()},
            first_day=first.date(),
            last_day=last.date(),
        )


def varied_filters(rng: random.Random, tenant: Tenant, period: str) -> Filters:
    """Filters as a chairman varies them: mostly everything, sometimes a company or two, a
    venture or two, a few stages; any grain. "30 days" and "90 days" end on one of the last 30
    days of data; "all time" is the dashboard's All time, from the first day of data to the
    last."""
    companies: tuple[str, ...] = ()
    if rng.random() < 0.4:
        companies = tuple(rng.sample(tenant.company_ids, rng.randint(1, len(tenant.company_ids))))
    ventures: tuple[str, ...] = ()
    if rng.random() < 0.2:
        pool = [v for c in companies or tenant.company_ids for v in tenant.ventures.get(c, ())]
        ventures = tuple(rng.sample(pool, min(len(pool), rng.randint(1, 2))))
    stages: tuple[int, ...] = ()
    if rng.random() < 0.25:
        stages = tuple(rng.sample(range(1, 41), rng.randint(1, 3)))
    if period.endswith(" days"):
        end = tenant.last_day - timedelta(days=rng.randint(0, 29))
        start = end - timedelta(days=int(period.split()[0]) - 1)
    else:
        start, end = tenant.first_day, tenant.last_day
    return Filters(
        start=start,
        end=end,
        company_ids=companies,
        venture_ids=ventures,
        stages=stages,
        grain=rng.choice(["day", "week", "month"]),
    )


def companies_seen(answers: dict[str, Any]) -> set[str]:
    """Every company id an answer names: what must stay inside the user's scope."""
    seen: set[str] = set()
    for value in answers.values():
        if isinstance(value, pd.DataFrame) and "company_id" in value.columns:
            seen |= {str(c) for c in value["company_id"].dropna()}
    return seen


Timed = Callable[[], Any]


def scope_of(answers: dict[str, Any]) -> Scope:
    scope = answers["scope"]
    assert isinstance(scope, Scope)
    return scope
