"""What the Subscriptions and Alerts pages say of a subscription or a rule: when, in its zone,
what became of its latest message (sent, skipped and why, or failed and when it is tried again),
and the scope a new rule watches. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard.charts import format as fmt

Tone = Literal["success", "warning"]


def when(at: datetime, tz: str) -> str:
    """A time as the subscriber reads it: their zone's day and hour."""
    local = at.astimezone(ZoneInfo(tz))
    return f"{fmt.day(local)} {local:%H:%M}"


def last_message(sub: Any) -> tuple[Tone, str] | None:
    """What became of the latest message of a row of ``queries.my_subscriptions``, and its
    tone; None when none was made yet."""
    status, tz = sub.last_status, sub.tz
    if not isinstance(status, str):
        return None
    detail = sub.last_detail if isinstance(sub.last_detail, str) else ""
    if status == "sent":
        return "success", f"Last digest sent {when(sub.last_at, tz)}."
    if status == "sending":
        return "success", "A digest is being sent now."
    if status == "skipped":
        return "warning", f"{detail} ({when(sub.last_at, tz)})"
    retry = (
        f"next try {when(sub.next_attempt_at, tz)}"
        if not pd.isna(sub.next_attempt_at)
        else "not tried again"
    )
    tries = f"{sub.last_attempts} attempt{'' if sub.last_attempts == 1 else 's'}"
    return "warning", f"Sending failed {when(sub.last_at, tz)}: {detail} ({tries}; {retry})."


def scope_words(query: dict[str, list[str]]) -> str:
    """The companies, ventures and stages of a URL query in words: what a new rule watches."""
    counts = {"company": ("company", "companies"), "venture": ("venture", "ventures")}
    chosen = [
        f"{len(query[k])} {one if len(query[k]) == 1 else many}"
        for k, (one, many) in counts.items()
        if query.get(k)
    ]
    if query.get("stage"):
        chosen.append("stages " + ", ".join(query["stage"]))
    return ", ".join(chosen) + " (from the sidebar)" if chosen else "all your companies"
