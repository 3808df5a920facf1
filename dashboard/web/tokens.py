"""Short-lived signed export links, bound to the session, the user and the filters.

The `Download CSV` of the Export page is a plain link to ``/export.csv?token=...``: the browser
downloads it as a file while the route streams it. The token carries the session id, the user id
and the filters, signed (salted for this purpose only) and time-stamped; the route accepts it for
``MAX_AGE_SECONDS`` and only while the session is alive and still that user's. The scope is never
in the token: the route recomputes it, so revoked access stops exports at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature

from dashboard.web import signing
from dashboard.web.sessions import SignedIn
from queries import Filters, InvalidFilter

MAX_AGE_SECONDS = 300
ROUTE = "/export.csv"
_SALT = "orchdash.export"


@dataclass(frozen=True)
class ExportGrant:
    session_id: str
    user_id: str
    filters: Filters


def _filters_payload(filters: Filters) -> dict[str, Any]:
    return {
        "start": filters.start.isoformat(),
        "end": filters.end.isoformat(),
        "company_ids": list(filters.company_ids),
        "venture_ids": list(filters.venture_ids),
        "stages": list(filters.stages),
        "grain": filters.grain,
        "tz": filters.tz,
        "agents": list(filters.agents),
        "agents_match": filters.agents_match,
    }


def export_token(user: SignedIn, filters: Filters) -> str:
    payload = {"sid": user.session_id, "uid": user.user_id, "filters": _filters_payload(filters)}
    return signing.serializer(_SALT).dumps(payload)


def export_url(user: SignedIn, filters: Filters) -> str:
    """A relative URL that downloads the CSV of these filters, valid a few minutes."""
    return f"{ROUTE}?{urlencode({'token': export_token(user, filters)})}"


def read_export_token(token: str, max_age: int = MAX_AGE_SECONDS) -> ExportGrant | None:
    """The grant in a token we signed that has not expired; None for anything else."""
    try:
        payload = signing.serializer(_SALT).loads(token, max_age=max_age)
        raw = payload["filters"]
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
        return ExportGrant(
            session_id=str(payload["sid"]), user_id=str(payload["uid"]), filters=filters
        )
    except (BadSignature, KeyError, TypeError, ValueError, InvalidFilter):
        return None
