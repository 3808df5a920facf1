"""Subscriptions and the record of messages (migration f08) as the runtime role.

A user reads, adds, changes and deletes only their own subscriptions, and the RLS policy alone
decides it: the statements name no user. The runtime role itself reaches the tables only through
the sender's functions, which claim each message once.
"""

from __future__ import annotations

import threading

import metrics_world as mw
import pytest
from mail_world import owner_fixture, scope  # noqa: F401
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import queries
from queries import InvalidFilter, Subscription, transactions

WEEKLY = Subscription(
    "error-rates", "stage=3&grain=week", "Last 30 days", "week", 8, "Europe/Berlin"
)


def test_each_user_reads_and_changes_only_their_own(
    world_app: Engine, owner: Engine, world: mw.World
) -> None:
    multi, single = scope(world, "multi"), scope(world, "single")
    theirs = queries.subscribe(world_app, multi, WEEKLY)
    mine = queries.subscribe(world_app, single, WEEKLY)
    listed = queries.my_subscriptions(world_app, multi)
    assert list(listed["id"]) == [theirs]
    assert listed.iloc[0][["page", "query", "every", "hour", "tz"]].tolist() == [
        "error-rates", "stage=3&grain=week", "week", 8, "Europe/Berlin"
    ]  # fmt: skip
    assert list(queries.my_subscriptions(world_app, single)["id"]) == [mine]

    # Another user's id changes nothing, as an id that does not exist.
    assert not queries.unsubscribe(world_app, single, theirs)
    assert not queries.request_message(world_app, single, theirs)
    assert queries.request_message(world_app, multi, theirs)
    with owner.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT CAST(id AS text), requested_at IS NOT NULL FROM orchdash.subscriptions"
                )
            ).all()
        )
    assert rows == {theirs: True, mine: False}
    assert queries.unsubscribe(world_app, multi, theirs)
    assert list(queries.my_subscriptions(world_app, multi)["id"]) == []


def test_the_policy_refuses_a_row_for_another_user(world_app: Engine, world: mw.World) -> None:
    """Raw statements as the reader with the single user's claims: the policy is the lock."""
    single, multi = world.users["single"], world.users["multi"]
    insert = text(
        "INSERT INTO orchdash.subscriptions (user_id, page, period, every, hour, tz)"
        " VALUES (:user, 'overview', 'Last 7 days', 'day', 8, 'UTC')"
    )
    with pytest.raises(DBAPIError, match="row-level security"):
        with transactions.scoped_writes(world_app, single) as conn:
            conn.execute(insert, {"user": multi})
    with transactions.scoped_writes(world_app, single) as conn:
        conn.execute(insert, {"user": single})
    with pytest.raises(DBAPIError, match="row-level security"):
        with transactions.scoped_writes(world_app, single) as conn:
            conn.execute(text("UPDATE orchdash.subscriptions SET user_id = :u"), {"u": multi})
    # A page's read-only transaction cannot write at all.
    with pytest.raises(DBAPIError, match="read-only"):
        with transactions.scoped(world_app, single) as conn:
            conn.execute(insert, {"user": single})


def test_the_runtime_role_reaches_the_tables_only_through_the_functions(
    world_app: Engine, owner: Engine
) -> None:
    for statement in ("SELECT * FROM orchdash.subscriptions", "SELECT * FROM orchdash.messages"):
        with pytest.raises(DBAPIError, match="permission denied"):
            with world_app.connect() as conn:
                conn.execute(text(statement))


def test_a_message_is_claimed_once_and_retried_only_when_due(
    world_app: Engine, owner: Engine, world: mw.World
) -> None:
    multi = scope(world, "multi")
    sub = queries.subscribe(world_app, multi, WEEKLY)
    (seen,) = [s for s in queries.mail_subscriptions(world_app) if s.id == sub]
    assert (seen.email, seen.account_open, seen.user_id) == (
        "multi@world.test",
        True,
        multi.user_id,
    )
    assert seen.subscription == WEEKLY

    def claim() -> queries.Claim | None:
        return queries.claim(world_app, "digest", sub, multi.user_id, "2026-12-07", "<m@x>")

    first = claim()
    assert first is not None and first.attempts == 1
    assert claim() is None  # being sent
    queries.done(world_app, first, "failed", "451 try later", retry_s=3600)
    assert claim() is None  # its retry is not due
    last = queries.my_subscriptions(world_app, multi).iloc[0]
    assert (last["last_status"], last["last_detail"], last["last_attempts"]) == (
        "failed", "451 try later", 1
    )  # fmt: skip
    with owner.begin() as conn:
        conn.execute(text("UPDATE orchdash.messages SET next_attempt_at = now() - interval '1 s'"))
    second = claim()
    assert second is not None and second.attempts == 2
    queries.done(world_app, second, "sent")
    assert claim() is None
    assert queries.my_subscriptions(world_app, multi).iloc[0]["last_status"] == "sent"
    # Another occasion is another message; the other user sees none of them.
    assert queries.claim(world_app, "digest", sub, multi.user_id, "2026-12-14", "<n@x>")
    assert queries.my_subscriptions(world_app, scope(world, "single")).empty


def test_one_sender_is_elected_at_a_time(world_app: Engine) -> None:
    held, release, results = threading.Event(), threading.Event(), []

    def first() -> None:
        with queries.sender_lock(world_app) as elected:
            results.append(elected)
            held.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(30)
    with queries.sender_lock(world_app) as elected:
        results.append(elected)
    release.set()
    thread.join()
    with queries.sender_lock(world_app) as elected:
        results.append(elected)
    assert results == [True, False, True]


@pytest.mark.parametrize(
    "change",
    [
        {"page": "../etc"},
        {"every": "hour"},
        {"hour": 24},
        {"hour": True},
        {"tz": "Mars/Olympus"},
        {"query": "x" * 4001},
        {"period": ""},
    ],
)
def test_a_bad_subscription_is_refused_before_sql(change: dict[str, object]) -> None:
    fields = {**WEEKLY.__dict__, **change}
    with pytest.raises(InvalidFilter):
        Subscription(**fields)  # type: ignore[arg-type]
