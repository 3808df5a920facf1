"""The signed-in user's subscriptions to a page by email (migration f08): add, list, ask for a
message now, unsubscribe.

Every statement runs as ``orchdash_reader`` with the user's claims, so the table's RLS policy
(``user_id = auth.uid()``) is what keeps each user to their own rows: a subscription id of
another user changes nothing, exactly as one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from queries import config, sqlfiles
from queries.criteria import Scope, valid_id, valid_limit, valid_timezone
from queries.errors import InvalidFilter
from queries.frames import Columns, from_rows
from queries.transactions import fetch, scoped_writes

EVERY = ("day", "week")
MAX_QUERY = 4000
MAX_PERIOD = 40
_PAGE = re.compile(r"[a-z][a-z-]{0,39}")
MY_SUBSCRIPTIONS: Columns = {
    "id": "str",
    "page": "str",
    "query": "str",
    "period": "str",
    "every": "str",
    "hour": "int",
    "tz": "str",
    "created_at": "ts",
    "requested_at": "ts",
    "last_status": "str",
    "last_detail": "str",
    "last_at": "ts",
    "last_attempts": "Int64",
    "next_attempt_at": "ts",
}


@dataclass(frozen=True)
class Subscription:
    """What a user subscribes to: a page (its URL path) with its filters (a URL query), the
    preset period recomputed at each send, and when: every day or week at a local hour."""

    page: str
    query: str
    period: str
    every: str
    hour: int
    tz: str

    def __post_init__(self) -> None:
        if not isinstance(self.page, str) or not _PAGE.fullmatch(self.page):
            raise InvalidFilter("Not a page of the dashboard.")
        if not isinstance(self.query, str) or len(self.query) > MAX_QUERY:
            raise InvalidFilter(f"The filters are too long to keep (at most {MAX_QUERY} letters).")
        if not isinstance(self.period, str) or not 1 <= len(self.period) <= MAX_PERIOD:
            raise InvalidFilter("Not a period of the dashboard.")
        if self.every not in EVERY:
            raise InvalidFilter("A digest is sent every day or every week.")
        if isinstance(self.hour, bool) or not isinstance(self.hour, int) or not 0 <= self.hour < 24:
            raise InvalidFilter("The hour of a digest is a whole number from 0 to 23.")
        valid_timezone(self.tz)


def subscribe(engine: Engine, scope: Scope, subscription: Subscription) -> str:
    """Add a subscription of the signed-in user; its id."""
    params: dict[str, Any] = {
        "page": subscription.page,
        "query": subscription.query,
        "period": subscription.period,
        "every": subscription.every,
        "hour": subscription.hour,
        "tz": subscription.tz,
    }
    return str(write(engine, scope, "subscription_add", params)[0])


def my_subscriptions(engine: Engine, scope: Scope, limit: int = 200) -> pd.DataFrame:
    """The user's own subscriptions with their latest message (:data:`MY_SUBSCRIPTIONS`)."""
    rows = fetch(engine, scope, "subscriptions_mine", {"row_limit": valid_limit(limit)})
    return from_rows(rows, MY_SUBSCRIPTIONS, config.timezone_name())


def unsubscribe(engine: Engine, scope: Scope, subscription_id: str) -> bool:
    """Delete one of the user's subscriptions; False when it is not theirs (or gone)."""
    params = {"subscription_id": valid_id(subscription_id, "subscriptions")}
    return bool(write(engine, scope, "subscription_delete", params))


def request_message(engine: Engine, scope: Scope, subscription_id: str) -> bool:
    """Ask the sender for this subscription's message now; False when it is not the user's."""
    params = {"subscription_id": valid_id(subscription_id, "subscriptions")}
    return bool(write(engine, scope, "subscription_request", params))


def write(engine: Engine, scope: Scope, name: str, params: dict[str, Any]) -> list[Any]:
    """Run one of the user's own writes (``queries/sql/<name>.sql``) under their RLS policy."""
    with scoped_writes(engine, scope.user_id) as conn:
        return [row[0] for row in conn.execute(sqlfiles.load(name), params)]
