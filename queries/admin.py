"""Owner-only administration behind `orchdash users`: never used by the dashboard itself."""

from __future__ import annotations

from collections.abc import Sequence

import bcrypt
from sqlalchemy import Engine, Row

from queries.sqlfiles import load
from queries.subscriptions import Subscription


def hash_password(password: str) -> str:
    """A bcrypt hash as Supabase stores it in auth.users.encrypted_password."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def list_users(engine: Engine) -> Sequence[Row]:
    with engine.connect() as conn:
        return conn.execute(load("admin_list_users")).all()


def add_user(engine: Engine, email: str, password: str) -> str:
    with engine.begin() as conn:
        return str(
            conn.execute(
                load("admin_add_user"),
                {"email": email.strip(), "password_hash": hash_password(password)},
            ).scalar_one()
        )


def set_access(engine: Engine, email: str, company: str, *, active: bool) -> None:
    with engine.begin() as conn:
        changed = conn.execute(
            load("admin_set_access"), {"email": email, "company": company, "active": active}
        ).all()
    if not changed:
        raise LookupError(f"No user {email!r} or no company {company!r}.")


def subscribe(engine: Engine, email: str, subscription: Subscription) -> str:
    """Subscribe the user of ``email`` (as the owner); the subscription's id."""
    params = {"email": email.strip(), **subscription.__dict__}
    with engine.begin() as conn:
        made = conn.execute(load("admin_subscribe"), params).scalar()
    if made is None:
        raise LookupError(f"No user {email!r}.")
    return str(made)


def list_subscriptions(engine: Engine) -> Sequence[Row]:
    with engine.connect() as conn:
        return conn.execute(load("admin_list_subscriptions")).all()
