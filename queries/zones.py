"""Time zones: which one the rollups serve.

A period and its buckets may be read in any IANA zone (``Filters.tz``); the rollups hold local
days of one zone only (migration f04), so every other zone is computed from the raw rows:
exact, but slower. The dashboard says so when the chosen zone is not :func:`rollup_zone`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from queries.criteria import Scope
from queries.transactions import fetch


def rollup_zone(engine: Engine, scope: Scope) -> str:
    """The zone of the rollups' local days, read from orchdash.rollup_settings as the user."""
    rows = fetch(engine, scope, "rollup_zone", {})
    return str(rows[0].zone)
