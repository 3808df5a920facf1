"""Short-lived opaque export links, bound to the session (its cookie) and the filters.

The `Download CSV` of the Export page is a plain link to ``/export.csv?link=...``: the browser
downloads it as a file while the route streams it. The link is a random value that names a row of
``orchdash.export_links`` (its SHA-256 stored), which holds the session and the filters: the URL
itself shows nothing of either. The route accepts it for ``MAX_AGE_SECONDS``, only together with
the session cookie of the browser that asked for it, and only while that session is alive: a
link copied to another browser is refused. The scope is never stored with the link: the route
recomputes it, so revoked access stops exports at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from sqlalchemy import Engine

from dashboard.web.sessions import SignedIn
from queries import (
    Filters,
    InvalidFilter,
    export_link_create,
    export_link_open,
    filters_record,
    get_engine,
)

MAX_AGE_SECONDS = 300
ROUTE = "/export.csv"
PARAM = "link"


@dataclass(frozen=True)
class ExportGrant:
    session_id: str
    user_id: str
    filters: Filters


def export_url(user: SignedIn, filters: Filters, engine: Engine | None = None) -> str | None:
    """A relative URL that downloads the CSV of these filters from this session's browser, valid
    a few minutes; None when the session has ended."""
    link = export_link_create(
        engine or get_engine(), user.session_id, filters_record(filters), MAX_AGE_SECONDS
    )
    return None if link is None else f"{ROUTE}?{urlencode({PARAM: link})}"


def open_export_link(engine: Engine, link: str, session_id: str | None) -> ExportGrant | None:
    """The grant of a link opened with the session that made it; None for anything else."""
    opened = export_link_open(engine, link, session_id)
    if opened is None or session_id is None:
        return None
    user_id, raw = opened
    try:
        filters = Filters(
            start=date.fromisoformat(raw["start"]),
            end=date.fromisoformat(raw["end"]),
            company_ids=tuple(raw["company_ids"]),
            venture_ids=tuple(raw["venture_ids"]),
            stages=tuple(raw["stages"]),
            grain=raw["grain"],
            tz=raw["tz"],
            agents=tuple(raw.get("agents", ())),
            agents_match=raw.get("agents_match", "any"),
        )
    except (KeyError, TypeError, ValueError, InvalidFilter):
        return None
    return ExportGrant(session_id=session_id, user_id=user_id, filters=filters)
