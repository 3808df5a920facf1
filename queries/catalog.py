"""Catalog lookups: the user's scope, the companies and ventures to choose from, and the dates
the scope's data spans."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine

from queries import config
from queries.criteria import Scope, valid_id, valid_ids, valid_timezone
from queries.frames import Columns, empty, from_rows
from queries.transactions import fetch

COMPANIES: Columns = {"company_id": "str", "company": "str"}
VENTURES: Columns = {"venture_id": "str", "venture": "str", "company_id": "str", "company": "str"}


def scope_for_user(engine: Engine, user_id: str) -> Scope:
    """The user's scope: the companies they have ACTIVE access to, read under RLS as the user."""
    scope = Scope(user_id=valid_id(user_id, "users"))
    rows = fetch(engine, scope, "scope_companies", {"user_id": scope.user_id})
    return Scope(user_id=scope.user_id, company_ids=tuple(r.company_id for r in rows))


def companies(engine: Engine, scope: Scope) -> pd.DataFrame:
    """``company_id, company`` of the scope, sorted by name: the choices of the Companies picker."""
    tz = config.timezone_name()
    if not scope.company_ids:
        return empty(COMPANIES, tz)
    rows = fetch(engine, scope, "companies", {"company_ids": list(scope.company_ids)})
    return from_rows(rows, COMPANIES, tz)


def ventures(engine: Engine, scope: Scope, company_ids: Any = ()) -> pd.DataFrame:
    """``venture_id, venture, company_id, company`` of the scope's companies (or of the chosen
    ones among them), sorted by company and venture name."""
    tz = config.timezone_name()
    chosen = scope.companies_for(valid_ids(company_ids, "companies"))
    if not chosen:
        return empty(VENTURES, tz)
    rows = fetch(engine, scope, "ventures", {"company_ids": list(chosen)})
    return from_rows(rows, VENTURES, tz)


def data_range(
    engine: Engine, scope: Scope, tz: str | None = None
) -> tuple[datetime | None, datetime | None]:
    """First and last ``recorded_at`` of the scope's data, tz-aware (ORCHDASH_TIMEZONE by
    default); ``(None, None)`` when the scope has no data."""
    zone = ZoneInfo(valid_timezone(config.timezone_name() if tz is None else tz))
    if not scope.company_ids:
        return None, None
    row = fetch(engine, scope, "data_range", {"company_ids": list(scope.company_ids)})[0]
    return (
        row.first.astimezone(zone) if row.first else None,
        row.last.astimezone(zone) if row.last else None,
    )
