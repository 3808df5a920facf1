"""Server-side sessions: who is signed in, since when, last seen when; and the signed cookie.

Sessions and sign-in tickets live in PostgreSQL (queries.sign_in_state, migration f06), shared by
every replica of the app: a restart keeps everyone signed in, and ending a session ends it in
every replica and every tab. The browser holds just the session id, signed, in an HttpOnly
cookie; the database keeps only its SHA-256.

Sign-in happens inside a Streamlit run, which cannot set a cookie. So a successful sign-in issues a
one-time *ticket* (valid ``TICKET_SECONDS``); the page posts it to the ``/auth/session`` route,
which redeems it for a new session and sets the cookie.

Expiry: after ``ORCHDASH_SESSION_IDLE_MINUTES`` (default 30) without a page run or download, and
in any case ``ORCHDASH_SESSION_MAX_HOURS`` (default 12) after sign-in, by the database's clock.
A session of an account that was deleted, banned or unconfirmed since ends at its next use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from itsdangerous import BadSignature
from sqlalchemy import Engine

from dashboard.web import signing
from queries import (
    get_engine,
    session_end,
    session_end_user,
    session_get,
    ticket_issue,
    ticket_redeem,
)

COOKIE_NAME = "orchdash_session"
# Where to go after an SSO sign-in (the identity provider returns to the app's root).
NEXT_COOKIE_NAME = "orchdash_next"
TICKET_SECONDS = 60.0
_COOKIE_SALT = "orchdash.session-cookie"


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person as the pages see them; identity only ever comes from the session."""

    user_id: str
    email: str
    session_id: str


def _duration_from_env(name: str, default: float, unit_seconds: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number, not {raw!r}.")
    return value * unit_seconds


def idle_seconds() -> float:
    return _duration_from_env("ORCHDASH_SESSION_IDLE_MINUTES", 30, 60)


def max_seconds() -> float:
    return _duration_from_env("ORCHDASH_SESSION_MAX_HOURS", 12, 3600)


class SessionStore:
    """Sessions and tickets in the database of ``engine`` (looked up at each call)."""

    def __init__(
        self,
        *,
        idle_seconds: float,
        max_seconds: float,
        engine: Callable[[], Engine] = get_engine,
        ticket_seconds: float = TICKET_SECONDS,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.ticket_seconds = ticket_seconds
        self._engine = engine

    def get(self, session_id: str, *, touch: bool = True) -> SignedIn | None:
        """The live session's person (idle time restarted when ``touch``), or None."""
        found = session_get(self._engine(), session_id, touch=touch)
        return None if found is None else SignedIn(found.user_id, found.email, session_id)

    def end(self, session_id: str) -> None:
        session_end(self._engine(), session_id)

    def end_user(self, user_id: str) -> None:
        """End every session of a user (e.g. one deleted from auth.users)."""
        session_end_user(self._engine(), user_id)

    def issue_ticket(self, user_id: str, email: str) -> str:
        return ticket_issue(self._engine(), user_id, email, self.ticket_seconds)

    def redeem_ticket(self, ticket: str) -> SignedIn | None:
        """A new session for a ticket that is fresh and unused; the ticket is then spent."""
        redeemed = ticket_redeem(
            self._engine(), ticket, idle_seconds=self.idle_seconds, max_seconds=self.max_seconds
        )
        if redeemed is None:
            return None
        session_id, user = redeemed
        return SignedIn(user.user_id, user.email, session_id)

    def create(self, user_id: str, email: str) -> SignedIn:
        """A new session straight away (a ticket issued and redeemed at once)."""
        session = self.redeem_ticket(self.issue_ticket(user_id, email))
        if session is None:
            raise RuntimeError("A ticket just issued could not be redeemed.")
        return session


@cache
def store() -> SessionStore:
    """The process's store, shared by the Streamlit script runs and the HTTP routes."""
    return SessionStore(idle_seconds=idle_seconds(), max_seconds=max_seconds())


def cookie_value(session_id: str) -> str:
    return signing.serializer(_COOKIE_SALT).dumps(session_id)


def session_id_from_cookie(value: str | None) -> str | None:
    """The session id in a cookie we signed, else None (absent, tampered or foreign)."""
    if not value:
        return None
    try:
        session_id = signing.serializer(_COOKIE_SALT).loads(value)
    except BadSignature:
        return None
    return session_id if isinstance(session_id, str) else None
