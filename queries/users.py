"""Sign-in lookups: password check, email to user id, whether an account may still sign in.

These run as the app's runtime role itself, which has no privilege on ``auth.users``: it calls
the ``SECURITY DEFINER`` functions of migration f05 (``orchdash.account_by_email``, one account's
id, hash and state; ``orchdash.account_active``); not through ``scoped()``, since nobody is signed
in yet. Banned, deleted and unconfirmed accounts are refused exactly as a wrong password is.
Each lookup is one READ ONLY transaction with a statement timeout; database failures leave as
the dashboard's error types (``DataUnavailable``, ``Busy``, ``QueryTimeout``).

Passwords are bcrypt hashes as Supabase stores them (``$2a$``/``$2b$``). An unknown email costs
a bcrypt check against a dummy hash too, so the answer time does not tell which emails exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

import bcrypt
from sqlalchemy import Engine, Row

from queries import config, errors
from queries.sqlfiles import load

# bcrypt reads at most 72 bytes; Supabase refuses longer passwords when they are set.
MAX_PASSWORD_BYTES = 72
MAX_EMAIL_CHARS = 320
# The cost Supabase (GoTrue) uses, so that the dummy check takes as long as a real one.
DUMMY_ROUNDS = 10


@cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"orchdash: no such user", bcrypt.gensalt(rounds=DUMMY_ROUNDS))


def _read(engine: Engine, name: str, params: dict[str, Any]) -> Sequence[Row[Any]]:
    with errors.translated_errors(), engine.connect() as conn:
        conn = conn.execution_options(postgresql_readonly=True)
        with conn.begin():
            conn.execute(load("user_settings"), {"timeout_ms": str(config.statement_timeout_ms())})
            return conn.execute(load(name), params).all()


def _plausible_email(email: str) -> bool:
    return 3 <= len(email) <= MAX_EMAIL_CHARS and "@" in email


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # not a bcrypt hash (e.g. an SSO-only account's empty password)
        return False


def verify_password(engine: Engine, email: str, password: str) -> str | None:
    """The user id if ``password`` is the password of the account with ``email``, else None."""
    email = email.strip()
    secret = password.encode()
    rows = _read(engine, "user_by_email", {"email": email}) if _plausible_email(email) else []
    with_password = [row for row in rows if row.encrypted_password]
    if len(with_password) != 1 or len(secret) > MAX_PASSWORD_BYTES:
        _check(secret[:MAX_PASSWORD_BYTES], _dummy_hash())
        return None
    row = with_password[0]
    # The check runs for a closed account too, so that the time taken tells nothing.
    matches = _check(secret, row.encrypted_password.encode())
    return str(row.id) if matches and row.active else None


def user_id_for_email(engine: Engine, email: str) -> str | None:
    """The id of the one open account with this email (any case); None if none, closed or
    ambiguous."""
    email = email.strip()
    if not _plausible_email(email):
        return None
    rows = _read(engine, "user_by_email", {"email": email})
    return str(rows[0].id) if len(rows) == 1 and rows[0].active else None


def user_exists(engine: Engine, user_id: str) -> bool:
    """Whether the account exists and may still be signed in (not banned, deleted, unconfirmed)."""
    try:
        canonical = str(uuid.UUID(user_id))
    except (ValueError, TypeError, AttributeError):
        return False
    return bool(_read(engine, "user_exists", {"user_id": canonical})[0][0])
