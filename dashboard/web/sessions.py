"""Server-side sessions: who is signed in, since when, last seen when; and the signed cookie.

A session lives in this process's memory only (session id -> user, created, last seen). The
browser holds just the session id, signed, in an HttpOnly cookie. Ending a session here ends it
for every tab and makes the old cookie worthless; a restart of the app signs everybody out.

Sign-in happens inside a Streamlit run, which cannot set a cookie. So a successful sign-in issues a
one-time *ticket* (valid ``TICKET_SECONDS``); the browser is sent to the ``/auth/session`` route
with it, and the route redeems the ticket for a new session and sets the cookie.

Expiry: after ``ORCHDASH_SESSION_IDLE_MINUTES`` (default 30) without a page run or download, and
in any case ``ORCHDASH_SESSION_MAX_HOURS`` (default 12) after sign-in. The clock is injectable
so that tests move time instead of waiting.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from itsdangerous import BadSignature

from dashboard.web import signing

COOKIE_NAME = "orchdash_session"
# Where to go after an SSO sign-in (the identity provider returns to the app's root).
NEXT_COOKIE_NAME = "orchdash_next"
TICKET_SECONDS = 60.0
MAX_SESSIONS = 100_000
MAX_ENDED_REMEMBERED = 10_000
_COOKIE_SALT = "orchdash.session-cookie"

Clock = Callable[[], float]


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person as the pages see them; identity only ever comes from the session."""

    user_id: str
    email: str
    session_id: str


@dataclass(frozen=True)
class Session:
    session_id: str
    user_id: str
    email: str
    created: float
    last_seen: float

    def signed_in(self) -> SignedIn:
        return SignedIn(user_id=self.user_id, email=self.email, session_id=self.session_id)


@dataclass(frozen=True)
class _Ticket:
    user_id: str
    email: str
    issued: float


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
    """Sessions and sign-in tickets of this process; safe to use from any thread."""

    def __init__(
        self,
        *,
        idle_seconds: float,
        max_seconds: float,
        clock: Clock = time.monotonic,
        ticket_seconds: float = TICKET_SECONDS,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.ticket_seconds = ticket_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    def _alive(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen < self.idle_seconds and now - session.created < self.max_seconds
        )

    def _forget(self, session_id: str) -> None:
        if self._sessions.pop(session_id, None) is not None:
            self._ended[session_id] = None
            while len(self._ended) > MAX_ENDED_REMEMBERED:
                self._ended.popitem(last=False)

    def _prune(self, now: float) -> None:
        for sid in [s for s, v in self._sessions.items() if not self._alive(v, now)]:
            self._forget(sid)
        for key in [k for k, v in self._tickets.items() if now - v.issued >= self.ticket_seconds]:
            del self._tickets[key]

    def create(self, user_id: str, email: str) -> Session:
        with self._lock:
            now = self._clock()
            self._prune(now)
            if len(self._sessions) >= MAX_SESSIONS:
                raise RuntimeError("Too many open sessions.")
            session = Session(secrets.token_urlsafe(32), user_id, email, now, now)
            self._sessions[session.session_id] = session
            return session

    def get(self, session_id: str, *, touch: bool = True) -> Session | None:
        """The live session (its idle time restarted when ``touch``), or None once expired."""
        with self._lock:
            now = self._clock()
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if not self._alive(session, now):
                self._forget(session_id)
                return None
            if touch:
                session = self._sessions[session_id] = replace(session, last_seen=now)
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._forget(session_id)

    def ended(self, session_id: str) -> bool:
        """Whether this id was one of the store's sessions that has since ended (recent ones)."""
        with self._lock:
            return session_id in self._ended

    def end_user(self, user_id: str) -> int:
        """End every session of a user (e.g. one deleted from auth.users); how many ended."""
        with self._lock:
            ended = [s for s, v in self._sessions.items() if v.user_id == user_id]
            for sid in ended:
                self._forget(sid)
            return len(ended)

    def issue_ticket(self, user_id: str, email: str) -> str:
        with self._lock:
            now = self._clock()
            self._prune(now)
            ticket = secrets.token_urlsafe(32)
            self._tickets[ticket] = _Ticket(user_id, email, now)
            return ticket

    def redeem_ticket(self, ticket: str) -> Session | None:
        """A new session for a ticket that is fresh and unused; the ticket is then spent."""
        with self._lock:
            found = self._tickets.pop(ticket, None)
            fresh = found is not None and self._clock() - found.issued < self.ticket_seconds
        return self.create(found.user_id, found.email) if found is not None and fresh else None


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
