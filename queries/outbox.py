"""The sender's side of email (migration f08): every subscription with its recipient's address,
the election of one sender, and the record of each message (claimed before it is sent, its
outcome after), so that a restart or a second replica never sends one twice.

These run as the runtime role itself (no tenant role, no user's claims) and reach the mail
tables only through f08's ``SECURITY DEFINER`` functions. What a message shows is read elsewhere,
as its recipient, through ``scoped()`` like a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from queries import config, sqlfiles
from queries.alert_rules import Rule
from queries.criteria import valid_id
from queries.errors import translated_errors
from queries.subscriptions import Subscription

# pg_try_advisory_xact_lock's key of the sender: any fixed bigint no other lock of ours uses.
SENDER_LOCK = 0x6F72_6368_6D61_696C  # "orchmail"
Kind = Literal["digest", "alert"]
Outcome = Literal["sent", "skipped", "failed"]
MAX_DETAIL = 2000


@dataclass(frozen=True)
class MailSubscription:
    """One subscription as the sender sees it, with its recipient's address."""

    id: str
    user_id: str
    email: str | None
    account_open: bool
    subscription: Subscription
    created_at: datetime
    requested_at: datetime | None


@dataclass(frozen=True)
class Claim:
    id: int
    attempts: int


def mail_subscriptions(engine: Engine) -> list[MailSubscription]:
    """Every user's subscriptions, oldest first."""
    return [_mail_subscription(row._asdict()) for row in _run(engine, "mail_subscriptions", {})]


def _mail_subscription(row: dict[str, Any]) -> MailSubscription:
    fields = {name: row.pop(name) for name in ("page", "query", "period", "every", "hour", "tz")}
    return MailSubscription(**row, subscription=Subscription(**fields))


def claim(
    engine: Engine, kind: Kind, about: str, recipient: str, occasion: str, message_id: str
) -> Claim | None:
    """Claim a message before sending it; None when it was sent, skipped, or is being sent (or
    failed and its retry is not due yet)."""
    rows = _run(
        engine,
        "mail_claim",
        {
            "kind": kind,
            "about": valid_id(about, "subscriptions or alert rules"),
            "recipient": valid_id(recipient, "users"),
            "occasion": occasion,
            "message_id": message_id,
        },
    )
    return Claim(rows[0].id, rows[0].attempts) if rows else None


def done(
    engine: Engine, claimed: Claim, outcome: Outcome, detail: str = "", retry_s: float | None = None
) -> None:
    """Record what became of a claimed message; a failure with ``retry_s`` is tried again then."""
    _run(
        engine,
        "mail_done",
        {
            "id": claimed.id,
            "status": outcome,
            "detail": detail[:MAX_DETAIL] or None,
            "retry_seconds": retry_s,
        },
    )


@dataclass(frozen=True)
class MailRule:
    """One alert rule as the sender sees it: its owner's address, and its last state (None
    before its first evaluation)."""

    id: str
    user_id: str
    email: str | None
    account_open: bool
    rule: Rule
    created_at: datetime
    holding: bool | None
    notify: bool | None
    since: datetime | None
    evaluated_at: datetime | None


@dataclass(frozen=True)
class Transition:
    changed: bool
    since: datetime


def mail_rules(engine: Engine) -> list[MailRule]:
    """Every user's alert rules, oldest first, with their states."""
    return [_mail_rule(row._asdict()) for row in _run(engine, "mail_rules", {})]


def _mail_rule(row: dict[str, Any]) -> MailRule:
    names = ("measure", "query", "comparison", "threshold", "window_days", "tz")
    fields = {name: row.pop(name) for name in names}
    return MailRule(**row, rule=Rule(**fields))


def transition(
    engine: Engine,
    rule_id: str,
    *,
    holding: bool,
    value: float | None,
    rows: int,
    detail: str,
    at: datetime,
) -> Transition | None:
    """Record an evaluation of a rule; whether it started or stopped holding, and since when.
    None when the rule was deleted meanwhile."""
    found = _run(
        engine,
        "alert_transition",
        {
            "rule_id": valid_id(rule_id, "alert rules"),
            "holding": holding,
            "value": value,
            "row_count": rows,
            "detail": detail[:MAX_DETAIL] or None,
            "at": at,
        },
    )
    return Transition(found[0].changed, found[0].since) if found else None


@contextmanager
def sender_lock(engine: Engine) -> Iterator[bool]:
    """Whether this process is the sender, for as long as the block runs (one transaction holds
    the lock; the claims and outcomes commit on other connections as they happen)."""
    with translated_errors(), engine.connect() as conn, conn.begin():
        elected = conn.execute(sqlfiles.load("mail_sender_lock"), {"lock_key": SENDER_LOCK})
        yield bool(elected.scalar())


def _run(engine: Engine, name: str, params: dict[str, Any]) -> list[Any]:
    with translated_errors(), engine.connect() as conn, conn.begin():
        # The audit's set-up: a statement timeout, and no user's claims.
        conn.execute(
            sqlfiles.load("audit_session"),
            {"timeout": str(config.statement_timeout_ms()), "claims": "", "sub": ""},
        )
        return list(conn.execute(sqlfiles.load(name), params))
