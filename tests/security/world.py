"""The hostile world of the security suite: C1, C2, C3, users A, B, Z, R, hostile names.

- C1 (`<img ...>`) and its ventures carry most hostile names; A sees it (active), R too (until a
  test revokes R); C2 is A's *inactive* company; B sees C3 (`＝1`) and its hostile ventures; Z sees
  nothing. Rows and a venture without a company are nobody's.
- Every company and venture name is unique, so a name on screen tells whose data it is.
- Rows span the ``DAYS`` days up to today (UTC), so every preset period has data.

What a user may see is never taken from the code under test: :func:`active_scope` reads
``user_company_access`` as the owner, and :func:`expected` sums the rows as the owner.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from queries import admin, schema

SEED = 6006
DAYS = 100
ROWS_PER_COMPANY = 700
NOBODYS_ROWS = 80

# The hostile names, each used exactly once as a company or venture name.
HTML = "<img src=x onerror=alert(1)>"
MARKDOWN_LINK = "[x](javascript:alert(1))"
HYPERLINK = '=HYPERLINK("http://x","y")'
PLUS = "+1"
MINUS = "-2+3"
AT = "@SUM(A1)"
TAB = "\tTabbed"
CR = "\rCarriage"
FULL_WIDTH = "＝1"
RTL = "\u202eRTL override"
EMOJI = "🚀 Rocket 👩‍💻"
LINE_BREAK = 'Quote "q", comma\nand newline'
HOSTILE = (HTML, MARKDOWN_LINK, HYPERLINK, PLUS, MINUS, AT, TAB, CR, FULL_WIDTH, RTL, EMOJI)
# What a spreadsheet would run as a formula (OWASP), full-width forms included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

COMPANY_NAMES = {
    "C1": HTML,
    "C2": "=C2 inactive <b>secret</b>",
    "C3": FULL_WIDTH,
}
VENTURE_NAMES = {
    "C1": [MARKDOWN_LINK, HYPERLINK, PLUS, MINUS, AT, TAB],
    "C2": ["C2 hidden venture", "-C2 hidden formula"],
    "C3": [CR, RTL, EMOJI, LINE_BREAK],
    None: ["Orphan <svg onload=alert(2)>"],
}
# label: {company label: active}
ACCESS: dict[str, dict[str, bool]] = {
    "A": {"C1": True, "C2": False},
    "B": {"C3": True},
    "Z": {},
    "R": {"C1": True},
}
USERS = tuple(ACCESS)


def email(user: str) -> str:
    return f"{user.lower()}@security.test"


def password(user: str) -> str:
    return f"{user.lower()}-security-password"


@dataclass
class World:
    """Ids and names of the world; expectations come from the database (see below)."""

    url: str  # the owner's URL
    companies: dict[str, str]  # label -> id
    ventures: dict[str, str]  # venture id -> name
    venture_company: dict[str, str | None]  # venture id -> company id (None: nobody's)
    users: dict[str, str]  # label -> user id
    metric_company: dict[str, str | None] = field(default_factory=dict)  # metric id -> company

    @property
    def company_names(self) -> dict[str, str]:
        return {cid: COMPANY_NAMES[label] for label, cid in self.companies.items()}

    def names_of(self, companies: set[str]) -> set[str]:
        """The names of these companies and of their ventures."""
        names = {self.company_names[c] for c in companies}
        return names | {n for v, n in self.ventures.items() if self.venture_company[v] in companies}

    def company_of_name(self) -> dict[str, str | None]:
        """Every name in the world -> the company whose data it is (None: nobody's)."""
        names: dict[str, str | None] = {n: c for c, n in self.company_names.items()}
        names.update({n: self.venture_company[v] for v, n in self.ventures.items()})
        return names

    def company_of_id(self) -> dict[str, str | None]:
        """Every id in the world (company, venture, metric) -> its company."""
        ids: dict[str, str | None] = {c: c for c in self.companies.values()}
        ids.update(self.venture_company)
        ids.update(self.metric_company)
        return ids


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def migrated(url: str) -> World:
    """Migrate the empty database at ``url`` (an owner's URL) and insert the world, as of today."""
    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    try:
        return build(owner, url, date.today())
    finally:
        owner.dispose()


def build(owner: Engine, url: str, today: date) -> World:
    """Insert the world into a migrated, empty database as its owner."""
    rng = random.Random(SEED)
    companies = {label: _uuid(rng) for label in COMPANY_NAMES}
    ventures: dict[str, str] = {}
    venture_company: dict[str, str | None] = {}
    for label, names in VENTURE_NAMES.items():
        for name in names:
            vid = _uuid(rng)
            ventures[vid] = name
            venture_company[vid] = companies[label] if label else None
    users = {label: admin.add_user(owner, email(label), password(label)) for label in USERS}
    metrics = _metrics(rng, companies, venture_company, today)
    with owner.begin() as conn:
        conn.execute(
            text("INSERT INTO public.companies (id, name) VALUES (:id, :name)"),
            [{"id": cid, "name": COMPANY_NAMES[label]} for label, cid in companies.items()],
        )
        conn.execute(
            text("INSERT INTO public.ventures (id, company_id, name) VALUES (:id, :c, :name)"),
            [{"id": v, "c": venture_company[v], "name": n} for v, n in ventures.items()],
        )
        conn.execute(
            text(
                "INSERT INTO public.user_company_access (user_id, company_id, is_active)"
                " VALUES (:u, :c, :active)"
            ),
            [
                {"u": users[user], "c": companies[company], "active": active}
                for user, grants in ACCESS.items()
                for company, active in grants.items()
            ],
        )
        conn.execute(
            text(
                "INSERT INTO public.orchestration_metrics (metric_id, company_id, venture_id,"
                " stage_id, stage_duration, handoff_efficiency, error_rate, action_count,"
                " success_count, failure_count, chairman_interventions, chairman_approvals,"
                " chairman_rejections, compute_cost, api_calls_made, data_quality_score,"
                " confidence_score, recorded_at, agents_involved, metadata)"
                " VALUES (:metric_id, :company_id, :venture_id, :stage_id, :stage_duration,"
                " :handoff_efficiency, :error_rate, :action_count, :success_count,"
                " :failure_count, :chairman_interventions, :chairman_approvals,"
                " :chairman_rejections, :compute_cost, :api_calls_made, :data_quality_score,"
                " :confidence_score, :recorded_at, :agents_involved, CAST(:metadata AS jsonb))"
            ),
            metrics,
        )
    return World(
        url=url,
        companies=companies,
        ventures=ventures,
        venture_company=venture_company,
        users=users,
        metric_company={m["metric_id"]: m["company_id"] for m in metrics},
    )


def _metrics(
    rng: random.Random,
    companies: dict[str, str],
    venture_company: dict[str, str | None],
    today: date,
) -> list[dict[str, Any]]:
    by_company: dict[str | None, list[str]] = {}
    for vid, cid in venture_company.items():
        by_company.setdefault(cid, []).append(vid)
    first = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=DAYS)
    rows = []
    for company in companies.values():
        choices: list[str | None] = [*by_company[company], None]  # some rows name no venture
        for _ in range(ROWS_PER_COMPANY):
            rows.append(_row(rng, company, rng.choice(choices), first))
    # A big refund three days ago: that day's compute cost is negative in every trend.
    refund_day = first + timedelta(days=DAYS - 3, hours=12)
    for company in companies.values():
        refund = _row(rng, company, by_company[company][0], first)
        rows.append(refund | {"compute_cost": Decimal("-99999.99"), "recorded_at": refund_day})
    # Nobody's rows: no company, with a venture of C1, of nobody, or none.
    nobodys = [*by_company[companies["C1"]], *by_company[None], None]
    for _ in range(NOBODYS_ROWS):
        rows.append(_row(rng, None, rng.choice(nobodys), first))
    return rows


def _row(rng: random.Random, company: str | None, venture: str | None, first: datetime) -> dict:
    actions = rng.randint(0, 60)
    return {
        "metric_id": _uuid(rng),
        "company_id": company,
        "venture_id": venture,
        "stage_id": rng.choice([None, *range(1, 41)]),
        "stage_duration": timedelta(seconds=rng.uniform(-300, 2 * 86400)),
        "handoff_efficiency": Decimal(f"{rng.uniform(40, 100):.2f}"),
        "error_rate": Decimal(f"{rng.uniform(0, 0.5):.4f}"),
        "action_count": actions,
        "success_count": rng.randint(0, actions),
        "failure_count": rng.randint(0, 10),
        "chairman_interventions": rng.randint(0, 3),
        "chairman_approvals": rng.randint(0, 3),
        "chairman_rejections": rng.randint(0, 2),
        # Negative costs (refunds) must stay numbers in every CSV.
        "compute_cost": Decimal(f"{rng.uniform(-50, 200):.2f}"),
        "api_calls_made": rng.randint(0, 300),
        "data_quality_score": Decimal(f"{rng.uniform(0, 100):.2f}"),
        "confidence_score": Decimal(f"{rng.uniform(0, 100):.2f}"),
        "recorded_at": first + timedelta(seconds=rng.uniform(0, (DAYS + 1) * 86400 - 1)),
        "agents_involved": ["=cmd|' /C calc'!A0", "planner"],
        "metadata": json.dumps({"note": "@SUM(1+1)"}),
    }


# ---- expectations, from the database as its owner -------------------------------------------


def active_scope(owner: Engine, user_id: str) -> set[str]:
    """The companies a user may see, read straight from user_company_access."""
    with owner.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT company_id::text FROM public.user_company_access"
                    " WHERE user_id = :u AND is_active"
                ),
                {"u": user_id},
            ).scalars()
        )


def expected(owner: Engine, companies: set[str], start: date, end: date) -> dict[str, int]:
    """Totals over the companies' rows in [start, end] (UTC days), summed by the owner."""
    with owner.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*) AS rows, count(stage_id) AS staged,"
                " coalesce(sum(action_count), 0) AS actions,"
                " coalesce(sum(action_count) FILTER (WHERE stage_id IS NOT NULL), 0)"
                " AS staged_actions,"
                " coalesce(sum(chairman_interventions), 0) AS interventions"
                " FROM public.orchestration_metrics"
                " WHERE company_id::text = ANY(:companies)"
                " AND recorded_at >= :start AND recorded_at < :after"
            ),
            {
                "companies": sorted(companies),
                "start": datetime(start.year, start.month, start.day, tzinfo=UTC),
                "after": datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
            },
        ).one()
    return {key: int(value) for key, value in row._mapping.items()}


def set_access(owner: Engine, user_id: str, company_id: str, active: bool) -> None:
    with owner.begin() as conn:
        conn.execute(
            text(
                "UPDATE public.user_company_access SET is_active = :active"
                " WHERE user_id = :u AND company_id = :c"
            ),
            {"active": active, "u": user_id, "c": company_id},
        )
