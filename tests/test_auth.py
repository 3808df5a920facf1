"""Sign-in: password check on real auth.users rows, throttling, sessions, cookies, export links,
SSO identities, and the gate (AppTest) that draws the sign-in page or lets a signed-in user in.

The module runs on a plain database and on Supabase-shaped ones (PostgreSQL 15 and 18, migrated
as Supabase's non-superuser postgres; accounts stored as Supabase Auth stores them). Sessions,
tickets, links and the throttle live in the database (migration f06) and go by its clock: time
is moved by moving their rows' times back as the owner, never waited for.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import db_fixtures
import pytest
from posted_form import posted_form
from sqlalchemy import Engine, text
from streamlit.testing.v1 import AppTest

from dashboard.ui.auth import BAD_CREDENTIALS, SESSION_ENDED, SESSION_KEY, SignedIn
from dashboard.web import headers, sessions, signing, tokens
from dashboard.web.sessions import SessionStore
from dashboard.web.throttle import ACCOUNT, ACCOUNT_MAX_SECONDS, Throttle
from queries import (
    Filters,
    ThrottlePolicy,
    admin,
    checks,
    engines,
    get_engine,
    schema,
    users,
)

PASSWORD = "correct horse battery staple"
IDLE = 30 * 60.0
ABSOLUTE = 12 * 3600.0


@pytest.fixture(scope="module")
def migrated_url(database_maker: Any) -> str:
    url = str(database_maker("orchdash_auth"))
    schema.migrate(url)
    return url


# On this module's database of each kind, not the session's plain one.
admin_engine = pytest.fixture(scope="module", name="admin_engine")(db_fixtures.owner_engine)
app_url = pytest.fixture(scope="module", name="app_url")(db_fixtures.runtime_url)
app_engine = pytest.fixture(scope="module", name="app_engine")(db_fixtures.runtime_engine)


def new_email(prefix: str = "person") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


@pytest.fixture(scope="module")
def person(admin_engine: Engine) -> tuple[str, str]:
    """(email, user id) of an account with PASSWORD, created as the owner."""
    email = new_email()
    return email, admin.add_user(admin_engine, email, PASSWORD)


def delete_user(admin_engine: Engine, user_id: str) -> None:
    with admin_engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.users WHERE id = CAST(:id AS uuid)"), {"id": user_id})


# ------------------------------------------------------------------ password check


def test_right_password_gives_the_user_id(app_engine: Engine, person: tuple[str, str]) -> None:
    email, user_id = person
    assert users.verify_password(app_engine, email, PASSWORD) == user_id
    assert users.verify_password(app_engine, f"  {email.upper()} ", PASSWORD) == user_id


@pytest.mark.parametrize(
    "password", ["wrong", PASSWORD.upper(), PASSWORD + " ", "", "x" * 100, PASSWORD + "é" * 40]
)
def test_wrong_password_gives_nothing(
    app_engine: Engine, person: tuple[str, str], password: str
) -> None:
    assert users.verify_password(app_engine, person[0], password) is None


@pytest.mark.parametrize("email", [new_email("ghost"), "", "not-an-email", "x@" + "y" * 400])
def test_unknown_email_gives_nothing(app_engine: Engine, email: str) -> None:
    assert users.verify_password(app_engine, email, PASSWORD) is None


def test_supabase_2a_hashes_and_sso_only_accounts(app_engine: Engine, admin_engine: Engine) -> None:
    go_style, sso_only = new_email("go"), new_email("sso")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    with admin_engine.begin() as conn:
        for email, password in ((go_style, hashed), (sso_only, "")):
            conn.execute(
                text(
                    "INSERT INTO auth.users (id, email, encrypted_password, email_confirmed_at)"
                    " VALUES (gen_random_uuid(), :email, :password, now())"
                ),
                {"email": email, "password": password},
            )
    assert users.verify_password(app_engine, go_style, PASSWORD) is not None
    assert users.verify_password(app_engine, sso_only, "") is None
    assert users.verify_password(app_engine, sso_only, PASSWORD) is None
    assert users.user_id_for_email(app_engine, sso_only.upper()) is not None


def test_lookups_run_as_the_app_role_read_only(app_engine: Engine, person: tuple[str, str]) -> None:
    """The runtime role reads auth.users only through the sign-in functions, not itself."""
    email, user_id = person
    assert users.user_id_for_email(app_engine, email) == user_id
    assert users.user_exists(app_engine, user_id)
    assert not users.user_exists(app_engine, str(uuid.uuid4()))
    assert not users.user_exists(app_engine, "not-a-uuid")
    with app_engine.connect() as conn:
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("SELECT id FROM auth.users LIMIT 1"))


def test_a_deleted_user_no_longer_exists(app_engine: Engine, admin_engine: Engine) -> None:
    email = new_email("leaver")
    user_id = admin.add_user(admin_engine, email, PASSWORD)
    delete_user(admin_engine, user_id)
    assert not users.user_exists(app_engine, user_id)
    assert users.verify_password(app_engine, email, PASSWORD) is None
    assert users.user_id_for_email(app_engine, email) is None


# Supabase Auth's account state: each closes the account exactly as a wrong password does.
CLOSED = {
    "banned": "banned_until = now() + interval '1 day'",
    "banned for ever": "banned_until = 'infinity'",
    "deleted": "deleted_at = now()",
    "unconfirmed": "email_confirmed_at = NULL",
}


def set_state(admin_engine: Engine, user_id: str, assignment: str) -> None:
    # The assignment is one of the fixed strings of this module.
    with admin_engine.begin() as conn:
        conn.execute(
            text(f"UPDATE auth.users SET {assignment} WHERE id = CAST(:id AS uuid)"),  # noqa: S608
            {"id": user_id},
        )


@pytest.mark.parametrize("state", CLOSED)
def test_a_closed_account_is_refused_like_a_wrong_password(
    app_engine: Engine, admin_engine: Engine, state: str
) -> None:
    email = new_email(state.replace(" ", "-"))
    user_id = admin.add_user(admin_engine, email, PASSWORD)
    assert users.verify_password(app_engine, email, PASSWORD) == user_id
    set_state(admin_engine, user_id, CLOSED[state])
    assert users.verify_password(app_engine, email, PASSWORD) is None
    assert not users.user_exists(app_engine, user_id)
    assert users.user_id_for_email(app_engine, email) is None


def test_a_ban_that_has_ended_lets_the_account_in_again(
    app_engine: Engine, admin_engine: Engine
) -> None:
    email = new_email("pardoned")
    user_id = admin.add_user(admin_engine, email, PASSWORD)
    set_state(admin_engine, user_id, "banned_until = now() - interval '1 minute'")
    assert users.verify_password(app_engine, email, PASSWORD) == user_id
    assert users.user_exists(app_engine, user_id)


# ------------------------------------------------------------------ moving time


def earlier(admin_engine: Engine, seconds: float) -> None:
    """Move every time of the sign-in state ``seconds`` into the past: as if they had passed."""
    back = {"back": seconds}
    with admin_engine.begin() as conn:
        for statement in (
            "UPDATE orchdash.sessions SET created_at = created_at - make_interval(secs => :back),"
            " last_seen_at = last_seen_at - make_interval(secs => :back),"
            " ends_at = ends_at - make_interval(secs => :back)",
            "UPDATE orchdash.sign_in_tickets SET expires_at = expires_at"
            " - make_interval(secs => :back)",
            "UPDATE orchdash.export_links SET expires_at = expires_at"
            " - make_interval(secs => :back)",
            "UPDATE orchdash.sign_in_failures"
            " SET next_attempt_at = next_attempt_at - make_interval(secs => :back),"
            " forget_at = forget_at - make_interval(secs => :back)",
            # Through a far past, so that no minute runs into one not yet moved.
            "UPDATE orchdash.sign_in_load"
            " SET minute = minute - make_interval(secs => :back) - interval '100 years'",
            "UPDATE orchdash.sign_in_load SET minute = minute + interval '100 years'",
        ):
            conn.execute(text(statement), back)


@pytest.fixture
def clean_state(admin_engine: Engine) -> None:
    """No sign-in state left by an earlier test (AppTest's client is always this machine)."""
    with admin_engine.begin() as conn:
        for table in checks.SIGN_IN_STATE:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (a fixed name)


def every_value(admin_engine: Engine) -> str:
    """All that the sign-in state's tables hold, as one text (what a copy of them would show)."""
    with admin_engine.connect() as conn:
        return " ".join(
            str(row)
            for table in checks.SIGN_IN_STATE
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (fixed)
        )


# ------------------------------------------------------------------ throttling


def throttle_on(app_engine: Engine, **policies: Any) -> Throttle:
    return Throttle(lambda: app_engine, **policies)


def test_throttle_waits_double_past_the_free_failures_and_are_capped(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    throttle = throttle_on(app_engine, pair=ThrottlePolicy(3, 30, 100))
    email, client = "Someone@Example.test", "203.0.113.1"
    waits = [throttle.failure(email, client) for _ in range(3)]
    assert waits == [0, 0, 0] and throttle.retry_after(email, client) == 0
    assert throttle.failure(email, client) == 30
    assert throttle.retry_after(" someone@example.TEST ", client) == pytest.approx(30, abs=1)
    assert throttle.retry_after("other@example.test", client) == 0
    earlier(admin_engine, 30)
    assert throttle.retry_after(email, client) == 0
    assert [throttle.failure(email, client) for _ in range(3)] == [60, 100, 100]  # capped
    earlier(admin_engine, 99)
    assert throttle.retry_after(email, client) == pytest.approx(1, abs=0.5)
    throttle.success(email, client)
    assert throttle.retry_after(email, client) == 0 and throttle.failure(email, client) == 0


def test_a_strangers_wrong_attempts_never_lock_the_owner_out(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    """The attack of the review: wrong attempts that keep the owner of an email locked out."""
    throttle = throttle_on(app_engine)
    owner, stranger, home = "owner@example.test", "198.51.100.66", "192.0.2.10"
    for _ in range(40):
        throttle.failure(owner, stranger)
        earlier(admin_engine, 60)  # one wrong attempt a minute, for 40 minutes
    assert throttle.retry_after(owner, stranger) > 60  # the stranger is slowed right down
    # The owner, from their own address, waits at most seconds, even right after an attempt.
    throttle.failure(owner, stranger)
    assert 0 < throttle.retry_after(owner, home) <= ACCOUNT_MAX_SECONDS
    earlier(admin_engine, ACCOUNT_MAX_SECONDS)
    assert throttle.retry_after(owner, home) == 0
    assert throttle.retry_after(owner, stranger) > 0


def test_one_client_cannot_try_many_emails(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    throttle = throttle_on(app_engine, client=ThrottlePolicy(5, 30, 900))
    client = "198.51.100.7"
    waits = [throttle.failure(f"user{n}@example.test", client) for n in range(6)]
    assert waits[:5] == [0] * 5 and waits[5] == 30
    assert throttle.retry_after("never-tried@example.test", client) == pytest.approx(30, abs=1)
    assert throttle.retry_after("never-tried@example.test", "192.0.2.99") == 0


def test_many_clients_guessing_one_account_are_slowed_by_seconds(
    app_engine: Engine, clean_state: None
) -> None:
    throttle = throttle_on(app_engine)
    email = "target@example.test"
    waits = [throttle.failure(email, f"198.51.100.{n}") for n in range(20)]
    assert waits[: ACCOUNT.free] == [0] * ACCOUNT.free
    assert 0 < max(waits) <= ACCOUNT_MAX_SECONDS
    assert throttle.retry_after(email, "192.0.2.200") > 0


def test_past_the_global_ceiling_everyone_waits_for_the_next_minute(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    throttle = throttle_on(app_engine, ceiling=5)
    for n in range(5):
        throttle.failure(f"flood{n}@example.test", f"198.51.100.{n}")
    wait = throttle.retry_after("innocent@example.test", "192.0.2.1")
    assert 0 < wait <= 60
    earlier(admin_engine, 60)
    assert throttle.retry_after("innocent@example.test", "192.0.2.1") == 0


def test_throttle_forgets_old_failures_and_keeps_no_email(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    throttle = throttle_on(app_engine, pair=ThrottlePolicy(1, 30, 100), forget_seconds=600)
    email = "forgotten@example.test"
    throttle.failure(email, "192.0.2.5")
    earlier(admin_engine, 600)
    assert throttle.failure(email, "192.0.2.5") == 0  # the old failure no longer counts
    held = every_value(admin_engine)
    assert "forgotten" not in held and "192.0.2.5" not in held  # keys are hashed
    with admin_engine.connect() as conn:
        expired = conn.execute(
            text("SELECT count(*) FROM orchdash.sign_in_failures WHERE forget_at <= now()")
        ).scalar()
    assert expired == 0  # deleted when the next failure came


def test_fifty_thousand_junk_failures_push_no_real_wait_out(
    app_engine: Engine, admin_engine: Engine, clean_state: None
) -> None:
    """The review's eviction: a bounded table in memory dropped its stalest lock after 50,000
    junk emails; in the database every count stays until it is forgotten."""
    throttle = throttle_on(app_engine, pair=ThrottlePolicy(1, 600, 900))
    email, client = "real@example.test", "192.0.2.77"
    throttle.failure(email, client)
    assert throttle.failure(email, client) == 600
    with admin_engine.begin() as conn:  # 50,000 other keys, each with a count of its own
        conn.execute(
            text(
                "INSERT INTO orchdash.sign_in_failures"
                " SELECT sha256(convert_to('junk:' || n, 'UTF8')), 9, now() + interval '1 hour',"
                " now() + interval '1 hour' FROM generate_series(1, 50000) AS n"
            )
        )
    for n in range(3):
        throttle.failure(f"junk{n}@example.test", f"198.51.100.{n}")
    assert throttle.retry_after(email, client) == pytest.approx(600, abs=5)


# ------------------------------------------------------------------ sessions


@pytest.fixture
def store(app_engine: Engine) -> SessionStore:
    return SessionStore(idle_seconds=IDLE, max_seconds=ABSOLUTE, engine=lambda: app_engine)


def test_session_expires_after_idle_time(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    session = store.create(person[1], person[0])
    earlier(admin_engine, IDLE - 10)
    assert store.get(session.session_id) is not None  # a run restarts the idle clock
    earlier(admin_engine, IDLE - 10)
    assert store.get(session.session_id, touch=False) is not None
    earlier(admin_engine, 10)
    assert store.get(session.session_id) is None


def test_session_expires_after_absolute_time_even_when_active(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    session = store.create(person[1], person[0])
    for _ in range(int(ABSOLUTE / (IDLE / 2)) - 1):
        earlier(admin_engine, IDLE / 2)
        assert store.get(session.session_id) is not None
    earlier(admin_engine, IDLE / 2)
    assert store.get(session.session_id) is None


def test_sign_out_ends_the_session_and_end_user_ends_all(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    other_id = admin.add_user(admin_engine, new_email("other"), PASSWORD)
    first, second = store.create(person[1], person[0]), store.create(person[1], person[0])
    other = store.create(other_id, "other")
    store.end(first.session_id)
    assert store.get(first.session_id) is None
    assert store.get(second.session_id) is not None
    store.end_user(person[1])
    assert store.get(second.session_id) is None
    assert store.get(other.session_id) is not None


def test_a_second_store_on_another_engine_shares_the_sessions(
    store: SessionStore, app_url: str, person: tuple[str, str]
) -> None:
    """A restarted app, or a second replica: the same database, another process's engine."""
    session = store.create(person[1], person[0])
    restarted = engines.make_engine(app_url, pool_size=1)
    try:
        replica = SessionStore(idle_seconds=IDLE, max_seconds=ABSOLUTE, engine=lambda: restarted)
        assert replica.get(session.session_id) == session
        replica.end(session.session_id)
        assert store.get(session.session_id) is None
    finally:
        restarted.dispose()


def test_sessions_and_tickets_are_kept_hashed(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    session = store.create(person[1], person[0])
    ticket = store.issue_ticket(person[1], person[0])
    with admin_engine.connect() as conn:
        found = conn.execute(text("SELECT id_sha256 FROM orchdash.sessions")).scalars()
        held = [bytes(value) for value in found]
    assert hashlib.sha256(session.session_id.encode()).digest() in held
    everything = every_value(admin_engine)
    assert session.session_id not in everything and ticket not in everything
    # What a copy of the table holds signs nobody in.
    for stolen in held:
        assert store.get(stolen.hex()) is None
        assert store.get(base64.urlsafe_b64encode(stolen).decode().rstrip("=")) is None


def test_ticket_is_single_use_and_short_lived(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    ticket = store.issue_ticket(person[1], person[0])
    session = store.redeem_ticket(ticket)
    assert session is not None and session.user_id == person[1]
    assert store.redeem_ticket(ticket) is None
    late = store.issue_ticket(person[1], person[0])
    earlier(admin_engine, sessions.TICKET_SECONDS)
    assert store.redeem_ticket(late) is None
    assert store.redeem_ticket("made-up") is None and store.redeem_ticket("x" * 500) is None


def test_expired_rows_are_deleted(
    store: SessionStore, admin_engine: Engine, person: tuple[str, str]
) -> None:
    store.create(person[1], person[0])
    store.issue_ticket(person[1], person[0])
    earlier(admin_engine, ABSOLUTE)
    store.issue_ticket(person[1], person[0])  # any sign-in cleans up
    with admin_engine.connect() as conn:
        left = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM orchdash.sessions WHERE ends_at <= now()),"
                " (SELECT count(*) FROM orchdash.sign_in_tickets WHERE expires_at <= now())"
            )
        ).one()
    assert tuple(left) == (0, 0)


def test_expiry_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHDASH_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("ORCHDASH_SESSION_MAX_HOURS", "0.5")
    assert (sessions.idle_seconds(), sessions.max_seconds()) == (300, 1800)
    for bad in ("0", "-5", "abc", "inf", "nan"):
        monkeypatch.setenv("ORCHDASH_SESSION_IDLE_MINUTES", bad)
        with pytest.raises(ValueError, match="positive number"):
            sessions.idle_seconds()
    monkeypatch.delenv("ORCHDASH_SESSION_IDLE_MINUTES")
    monkeypatch.delenv("ORCHDASH_SESSION_MAX_HOURS")
    assert (sessions.idle_seconds(), sessions.max_seconds()) == (1800, 43200)


# ------------------------------------------------------------------ signed values


def test_cookie_round_trip_and_tampering() -> None:
    value = sessions.cookie_value("abc")
    assert sessions.session_id_from_cookie(value) == "abc"
    tampered = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    other_purpose = signing.serializer("orchdash.another-purpose").dumps("abc")
    for bad in (tampered, "abc", "", None, other_purpose):
        assert sessions.session_id_from_cookie(bad) is None


def test_secret_key_is_generated_once_private_or_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHDASH_SECRET_KEY", raising=False)
    monkeypatch.setenv("ORCHDASH_DATA_DIR", str(tmp_path / "data"))
    signing.secret_key.cache_clear()
    try:
        first = signing.secret_key()
        path = tmp_path / "data" / signing.SECRET_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        signing.secret_key.cache_clear()
        assert signing.secret_key() == first and len(first) >= 32
        assert list(path.parent.iterdir()) == [path]
        monkeypatch.setenv("ORCHDASH_SECRET_KEY", "k" * 40)
        signing.secret_key.cache_clear()
        assert signing.secret_key() == "k" * 40
        monkeypatch.setenv("ORCHDASH_SECRET_KEY", "short")
        signing.secret_key.cache_clear()
        with pytest.raises(RuntimeError, match="at least"):
            signing.secret_key()
    finally:
        signing.secret_key.cache_clear()


def filters() -> Filters:
    return Filters(
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        company_ids=(str(uuid.UUID(int=1)),),
        stages=(3, 1),
        grain="week",
        tz="Europe/Paris",
    )


def test_export_link_is_opaque_and_opens_only_with_its_session(
    store: SessionStore, app_engine: Engine, admin_engine: Engine, person: tuple[str, str]
) -> None:
    user = store.create(person[1], person[0])
    other = store.create(person[1], person[0])  # the same person in another browser
    url = tokens.export_url(user, filters(), app_engine)
    assert url is not None and url.startswith(tokens.ROUTE + "?link=")
    link = parse_qs(urlsplit(url).query)["link"][0]
    for secret in (user.session_id, user.user_id, *filters().company_ids, "2026-01-01"):
        assert secret not in url
    grant = tokens.open_export_link(app_engine, link, user.session_id)
    assert grant is not None
    assert (grant.session_id, grant.user_id, grant.filters) == (
        user.session_id,
        user.user_id,
        filters(),
    )
    assert tokens.open_export_link(app_engine, link, other.session_id) is None
    assert tokens.open_export_link(app_engine, link, None) is None
    for junk in (link + "x", link[:-1], "", "a" * 43, "<script>"):
        assert tokens.open_export_link(app_engine, junk, user.session_id) is None
    earlier(admin_engine, tokens.MAX_AGE_SECONDS)
    assert tokens.open_export_link(app_engine, link, user.session_id) is None


def test_an_ended_session_makes_no_link_and_opens_none(
    store: SessionStore, app_engine: Engine, person: tuple[str, str]
) -> None:
    user = store.create(person[1], person[0])
    url = tokens.export_url(user, filters(), app_engine)
    assert url is not None
    store.end(user.session_id)
    link = parse_qs(urlsplit(url).query)["link"][0]
    assert tokens.open_export_link(app_engine, link, user.session_id) is None
    assert tokens.export_url(user, filters(), app_engine) is None


# ------------------------------------------------------------------ the gate (AppTest)


def gate_script() -> None:
    import streamlit as st

    from dashboard.ui import auth

    user = auth.require_user()
    st.write(f"granted:{user.user_id}")


@dataclass
class Gate:
    store: SessionStore


@pytest.fixture
def gate_env(
    app_url: str, app_engine: Engine, clean_state: None, monkeypatch: pytest.MonkeyPatch
) -> Gate:
    """The app's engine on the test database, and its session store."""
    monkeypatch.setenv("DATABASE_URL", app_url)
    # On the app's engine as the app finds it: DATABASE_URL.
    store = SessionStore(idle_seconds=IDLE, max_seconds=ABSOLUTE, engine=get_engine)
    monkeypatch.setattr(sessions, "store", lambda: store)
    return Gate(store)


def gate(query: dict[str, Any] | None = None, url: str = "http://localhost/") -> AppTest:
    at = AppTest.from_function(gate_script, default_timeout=30)
    at.query_params.update(query or {})
    at.context["url"] = url
    return at


def granted(at: AppTest) -> str | None:
    found = [m.value for m in at.markdown if str(m.value).startswith("granted:")]
    return found[0].removeprefix("granted:") if found else None


def posted(at: AppTest) -> tuple[str, dict[str, str]]:
    """Where the drawn form posts the browser, and what."""
    forms = [posted_form(h.proto.body) for h in at.get("html")]
    found = [f for f in forms if f is not None]
    assert found, "no form to post was drawn"
    return found[-1]


def sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_signed_out_sees_only_the_sign_in_form(gate_env: Gate) -> None:
    at = gate().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Email", "Password"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert granted(at) is None and SESSION_KEY not in at.session_state


def test_wrong_password_and_unknown_email_get_the_same_message(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    wrong = sign_in(gate().run(), person[0], "wrong")
    unknown = sign_in(gate().run(), new_email("ghost"), PASSWORD)
    for at in (wrong, unknown):
        assert [e.value for e in at.error] == [BAD_CREDENTIALS]
        assert granted(at) is None and not at.get("html")


def test_repeated_failures_lock_the_email(gate_env: Gate, admin_engine: Engine) -> None:
    email = new_email("locked")
    admin.add_user(admin_engine, email, PASSWORD)
    at = gate().run()
    for _ in range(5):
        sign_in(at, email, "wrong")
        assert [e.value for e in at.error] == [BAD_CREDENTIALS]
    sign_in(at, email, "wrong")
    sign_in(at, email, PASSWORD)  # even the right password waits out the lock
    assert "Too many failed sign-in attempts" in at.error[0].value
    assert not at.get("html")


def test_right_password_sends_the_browser_to_redeem_a_ticket(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    email, user_id = person
    link = gate({"grain": "week", "stage": ["3", "4"]}, url="http://localhost/error-rates")
    at = sign_in(link.run(), email, PASSWORD)
    action, fields = posted(at)
    assert action == "/auth/session"
    assert fields["next"] == "/error-rates?grain=week&stage=3&stage=4"
    assert headers.AUTO_SUBMIT_SCRIPT in at.get("html")[-1].proto.body
    session = gate_env.store.redeem_ticket(fields["ticket"])
    assert session is not None and session.user_id == user_id


def injected(at: AppTest, gate: Gate, user_id: str, session_id: str | None = None) -> AppTest:
    """A tab of a signed-in person: a live session of the store unless ``session_id`` names one."""
    sid = session_id or gate.store.create(user_id, "a@x.test").session_id
    at.session_state[SESSION_KEY] = SignedIn(user_id=user_id, email="a@x.test", session_id=sid)
    return at


def test_a_signed_in_user_passes_and_sees_sign_out(gate_env: Gate, person: tuple[str, str]) -> None:
    at = injected(gate(), gate_env, person[1]).run()
    assert not at.exception
    assert granted(at) == person[1]
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def test_sign_out_ends_the_session_and_clears_the_cookie(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    session = gate_env.store.create(person[1], person[0])
    at = injected(gate(), gate_env, person[1], session.session_id).run()
    other_tab = injected(gate(), gate_env, person[1], session.session_id).run()
    assert granted(at) == granted(other_tab) == person[1]
    at.sidebar.button[0].click().run()
    assert posted(at) == ("/auth/signout", {})
    gate_env.store.end(session.session_id)  # what the route does with the browser's cookie
    at.run()
    assert granted(at) is None and at.text_input[0].label == "Email"
    other_tab.run()
    assert granted(other_tab) is None and other_tab.info[0].value == SESSION_ENDED


def test_an_expired_session_shows_the_sign_in_page(
    gate_env: Gate, admin_engine: Engine, person: tuple[str, str]
) -> None:
    session = gate_env.store.create(person[1], person[0])
    at = injected(gate(), gate_env, person[1], session.session_id).run()
    assert granted(at) == person[1]
    earlier(admin_engine, IDLE)
    at.run()
    assert granted(at) is None
    assert at.info[0].value == SESSION_ENDED
    assert [t.label for t in at.text_input] == ["Email", "Password"]


def test_a_deleted_user_is_signed_out_at_the_next_run(gate_env: Gate, admin_engine: Engine) -> None:
    user_id = admin.add_user(admin_engine, new_email("deleted"), PASSWORD)
    at = injected(gate(), gate_env, user_id).run()
    assert granted(at) == user_id
    delete_user(admin_engine, user_id)
    at.run()
    assert granted(at) is None and [t.label for t in at.text_input] == ["Email", "Password"]


@pytest.mark.parametrize("state", ["banned", "deleted"])
def test_an_account_closed_while_signed_in_is_signed_out_at_the_next_run(
    gate_env: Gate, admin_engine: Engine, state: str
) -> None:
    user_id = admin.add_user(admin_engine, new_email(state), PASSWORD)
    at = injected(gate(), gate_env, user_id).run()
    assert granted(at) == user_id
    set_state(admin_engine, user_id, CLOSED[state])
    at.run()
    assert granted(at) is None and [t.label for t in at.text_input] == ["Email", "Password"]


ISSUER = "http://localhost:1"
OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "orchdash",
        "client_secret": "secret",
        "server_metadata_url": ISSUER + "/.well-known/openid-configuration",
    }
}


def test_sso_button_only_with_an_auth_section(gate_env: Gate) -> None:
    plain = gate().run()
    assert "Sign in with SSO" not in [b.label for b in plain.button]
    at = gate({"grain": "month"}, url="http://localhost/export")
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in", "Sign in with SSO"]
    at.button[1].click().run()
    assert posted(at) == ("/auth/sso", {"next": "/export?grain=month"})


def back_from_the_provider(
    claims: dict[str, Any], secrets: dict[str, Any] = OIDC_SECRETS
) -> AppTest:
    at = gate()
    at.secrets.update(secrets)
    at.user = {"is_logged_in": True} | claims
    return at.run()


def signed_in_as(at: AppTest, gate: Gate) -> str | None:
    """The account whose ticket the page posts, if it posts one."""
    forms = [posted_form(h.proto.body) for h in at.get("html")]
    tickets = [f[1]["ticket"] for f in forms if f is not None and f[0] == "/auth/session"]
    if not tickets:
        return None
    session = gate.store.redeem_ticket(tickets[-1])
    return session.user_id if session else None


def verified(email: str, subject: str, issuer: str = ISSUER) -> dict[str, Any]:
    return {"iss": issuer, "sub": subject, "email": email, "email_verified": True}


def test_oidc_identity_with_a_verified_email_gets_a_session_and_is_linked(
    gate_env: Gate, admin_engine: Engine
) -> None:
    email = new_email("sso")
    user_id = admin.add_user(admin_engine, email, PASSWORD)
    at = back_from_the_provider(verified(email.upper(), "subject-1"))
    action, fields = posted(at)
    assert action == "/auth/session" and "next" not in fields
    assert signed_in_as(at, gate_env) == user_id
    # Linked: the next sign-in goes by (issuer, subject), whatever the email claims now.
    again = back_from_the_provider({"iss": ISSUER, "sub": "subject-1", "email": "new@x.test"})
    assert signed_in_as(again, gate_env) == user_id
    # Another subject of the same issuer with that email (a second account at the provider
    # that claims it) is not let in to the linked account.
    other = back_from_the_provider(verified(email, "subject-2"))
    assert signed_in_as(other, gate_env) is None and other.title[0].value == "No access"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"email_verified": False}, id="email_verified false"),
        # A multi-tenant Microsoft Entra app sends no email_verified: its email can be anyone's.
        pytest.param({"email_verified": None}, id="email_verified missing"),
        pytest.param({"email_verified": "true"}, id="email_verified a string"),
        pytest.param({"iss": "https://login.example.test/other-tenant"}, id="foreign issuer"),
        pytest.param({"iss": None}, id="no issuer"),
        pytest.param({"email": None}, id="no email: sub alone identifies nobody"),
        pytest.param({"email": "stranger@example.test"}, id="no such account"),
    ],
)
def test_oidc_identity_that_may_not_sign_in_gets_no_access(
    gate_env: Gate, person: tuple[str, str], claims: dict[str, Any]
) -> None:
    wanted = verified(person[0], f"subject-{uuid.uuid4().hex}") | claims
    at = back_from_the_provider({k: v for k, v in wanted.items() if v is not None})
    assert not at.exception
    assert at.title[0].value == "No access"
    assert signed_in_as(at, gate_env) is None and granted(at) is None
    at.button[0].click().run()
    assert posted(at) == ("/auth/signout", {})


def test_allowed_issuers_come_from_the_auth_section(gate_env: Gate, admin_engine: Engine) -> None:
    tenant = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
    common = {
        "auth": OIDC_SECRETS["auth"]
        | {
            "server_metadata_url": "https://login.microsoftonline.com/common/v2.0"
            "/.well-known/openid-configuration"
        }
    }
    email = new_email("entra")
    user_id = admin.add_user(admin_engine, email, PASSWORD)
    # "common" names no real issuer: nobody is let in until the tenants are listed.
    refused = back_from_the_provider(verified(email, "entra-1", tenant), common)
    assert signed_in_as(refused, gate_env) is None
    listed = {"auth": common["auth"] | {"allowed_issuers": [tenant]}}
    assert (
        signed_in_as(back_from_the_provider(verified(email, "entra-1", tenant), listed), gate_env)
        == user_id
    )


def test_returning_from_sso_after_an_ended_session_needs_a_new_sign_in(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    """A session that ended (sign-out, expiry) is not reopened by the provider's cookie."""
    session = gate_env.store.create(person[1], person[0])
    gate_env.store.end(session.session_id)
    at = injected(gate(), gate_env, person[1], session.session_id)
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True} | verified(person[0], "subject-ended")
    at.run()
    assert at.info[0].value == SESSION_ENDED and not at.get("html")


def test_a_database_that_is_down_gives_a_message_and_retry_never_a_traceback(
    gate_env: Gate, monkeypatch: pytest.MonkeyPatch, person: tuple[str, str]
) -> None:
    session = gate_env.store.create(person[1], person[0])
    # Nothing listens on port 1: connecting is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://orchdash_app@127.0.0.1:1/orchdash")
    signed = injected(gate(), gate_env, person[1], session.session_id).run()
    assert not signed.exception and granted(signed) is None
    assert "cannot be reached" in signed.error[0].value
    assert [b.label for b in signed.button] == ["Retry"]
    at = sign_in(gate().run(), person[0], PASSWORD)
    assert not at.exception and "cannot be reached" in at.error[0].value
    assert not at.get("html")
