"""Sign-in state kept in PostgreSQL (migration f06): sessions, tickets, export links, throttle,
and the links of SSO identities to accounts.

Every replica of the app shares it, so a restart keeps people signed in and a sign-out ends the
session everywhere. The runtime role calls only f06's ``SECURITY DEFINER`` functions, each call
in a short transaction of its own with a statement timeout; failures leave as the dashboard's
error types. Secrets never reach the database: a session id, ticket or link is a random value
that only the browser holds, and the database keeps its SHA-256 (:func:`digest`). Throttle keys
(an email, a client address) are hashed likewise, so the table lists no email.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row

from queries import config, errors
from queries.sqlfiles import load

# A browser's secret: 256 bits, URL-safe (43 characters).
SECRET_BYTES = 32
MAX_SECRET_CHARS = 64
MAX_EMAIL_CHARS = 320


@dataclass(frozen=True)
class SessionUser:
    """Who a live session belongs to."""

    user_id: str
    email: str


@dataclass(frozen=True)
class ThrottlePolicy:
    """How one kind of throttle key grows its wait: free failures, then doubling waits."""

    free: int
    first_seconds: float
    max_seconds: float


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def digest(value: str) -> bytes:
    """The SHA-256 the database keeps of a secret or a throttle key."""
    return hashlib.sha256(value.encode()).digest()


def plausible_secret(value: str | None) -> bool:
    """Whether ``value`` could be one of our secrets at all: junk never reaches the database."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_SECRET_CHARS
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
    )


def _call(engine: Engine, name: str, params: dict[str, Any]) -> Sequence[Row[Any]]:
    with errors.translated_errors(), engine.connect() as conn, conn.begin():
        conn.execute(load("sign_in_settings"), {"timeout_ms": str(config.statement_timeout_ms())})
        return conn.execute(load(name), params).all()


def _user_id(user_id: str) -> str:
    return str(uuid.UUID(user_id))


# ---------------------------------------------------------------- sessions and tickets


def session_get(engine: Engine, session_id: str, *, touch: bool = True) -> SessionUser | None:
    """The live session's user (its idle clock restarted when ``touch``), else None."""
    if not plausible_secret(session_id):
        return None
    rows = _call(engine, "session_get", {"id_sha256": digest(session_id), "touch": touch})
    return SessionUser(rows[0].user_id, rows[0].email) if rows else None


def session_end(engine: Engine, session_id: str) -> None:
    if plausible_secret(session_id):
        _call(engine, "session_end", {"id_sha256": digest(session_id)})


def session_end_user(engine: Engine, user_id: str) -> None:
    _call(engine, "session_end_user", {"user_id": _user_id(user_id)})


def ticket_issue(engine: Engine, user_id: str, email: str, seconds: float) -> str:
    """A one-time ticket for a new session of this user, redeemable for ``seconds``."""
    ticket = new_secret()
    params = {
        "id_sha256": digest(ticket),
        "user_id": _user_id(user_id),
        "email": email[:MAX_EMAIL_CHARS],
        "seconds": seconds,
    }
    _call(engine, "ticket_issue", params)
    return ticket


def ticket_redeem(
    engine: Engine, ticket: str, *, idle_seconds: float, max_seconds: float
) -> tuple[str, SessionUser] | None:
    """Spend a fresh ticket for a new session: its id (for the cookie) and user; else None."""
    if not plausible_secret(ticket):
        return None
    session_id = new_secret()
    params = {
        "ticket_sha256": digest(ticket),
        "id_sha256": digest(session_id),
        "idle_seconds": idle_seconds,
        "max_seconds": max_seconds,
    }
    rows = _call(engine, "ticket_redeem", params)
    return (session_id, SessionUser(rows[0].user_id, rows[0].email)) if rows else None


# ---------------------------------------------------------------- export links


def export_link_create(
    engine: Engine, session_id: str, filters: dict[str, Any], seconds: float
) -> str | None:
    """An opaque export link of this live session for ``filters``; None if the session ended."""
    link = new_secret()
    params = {
        "id_sha256": digest(link),
        "session_sha256": digest(session_id),
        "filters": json.dumps(filters),
        "seconds": seconds,
    }
    made = _call(engine, "export_link_create", params)[0][0]
    return link if made else None


def export_link_open(
    engine: Engine, link: str, session_id: str | None
) -> tuple[str, dict[str, Any]] | None:
    """The user and filters of a link, only when opened with the live session that made it."""
    if not (plausible_secret(link) and session_id and plausible_secret(session_id)):
        return None
    params = {"id_sha256": digest(link), "session_sha256": digest(session_id)}
    rows = _call(engine, "export_link_open", params)
    return (rows[0].user_id, dict(rows[0].filters)) if rows else None


# ---------------------------------------------------------------- throttle


def sign_in_wait(engine: Engine, keys: Sequence[str], ceiling: int) -> float:
    """Seconds to wait before these keys may try again (0: now)."""
    params = {"keys": [digest(k) for k in keys], "ceiling": ceiling}
    return float(_call(engine, "sign_in_wait", params)[0][0] or 0.0)


def sign_in_failed(engine: Engine, keys: dict[str, ThrottlePolicy], forget_seconds: float) -> float:
    """Count one failure against each key under its policy; the longest wait that starts."""
    policies = list(keys.values())
    params = {
        "keys": [digest(k) for k in keys],
        "free": [int(p.free) for p in policies],
        "first_seconds": [float(p.first_seconds) for p in policies],
        "max_seconds": [float(p.max_seconds) for p in policies],
        "forget_seconds": forget_seconds,
    }
    return float(_call(engine, "sign_in_failed", params)[0][0] or 0.0)


def sign_in_succeeded(engine: Engine, keys: Sequence[str]) -> None:
    _call(engine, "sign_in_succeeded", {"keys": [digest(k) for k in keys]})


# ---------------------------------------------------------------- SSO identities


def identity_user(engine: Engine, issuer: str, subject: str) -> str | None:
    """The open account linked to this provider's subject, if any."""
    rows = _call(engine, "identity_user", {"issuer": issuer, "subject": subject})
    return str(rows[0][0]) if rows and rows[0][0] else None


def identity_link(engine: Engine, issuer: str, subject: str, user_id: str) -> bool:
    """Link the subject to the account unless either is linked otherwise; whether it is now."""
    params = {"issuer": issuer, "subject": subject, "user_id": _user_id(user_id)}
    return bool(_call(engine, "identity_link", params)[0][0])
