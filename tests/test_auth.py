"""Sign-in: password check on real auth.users rows, throttling, sessions, cookies, export tokens,
and the gate (AppTest) that draws the sign-in page or lets a signed-in user through.

The module runs on a plain database and on Supabase-shaped ones (PostgreSQL 15 and 18, migrated
as Supabase's non-superuser postgres; accounts stored as Supabase Auth stores them). Time is
moved with an injectable clock, never waited for.
"""

from __future__ import annotations

import re
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
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, text
from streamlit.testing.v1 import AppTest

from dashboard.ui.auth import BAD_CREDENTIALS, SESSION_ENDED, SESSION_KEY, SignedIn
from dashboard.web import sessions, signing, tokens
from dashboard.web.sessions import SessionStore
from dashboard.web.throttle import Throttle
from queries import Filters, admin, schema, users

PASSWORD = "correct horse battery staple"
IDLE = 30 * 60.0
ABSOLUTE = 12 * 3600.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


# ------------------------------------------------------------------ throttling


def test_throttle_locks_after_free_failures_and_doubles() -> None:
    clock = Clock()
    throttle = Throttle(free_failures=3, first_lock_seconds=30, max_lock_seconds=100, clock=clock)
    email = "Someone@Example.test"
    locks = [throttle.failure(email) for _ in range(3)]
    assert locks == [0, 0, 0] and throttle.retry_after(email) == 0
    assert throttle.failure(email) == 30
    assert throttle.retry_after(" someone@example.TEST ") == 30  # the same email, any case
    assert throttle.retry_after("other@example.test") == 0
    clock.advance(30)
    assert throttle.retry_after(email) == 0
    assert [throttle.failure(email) for _ in range(3)] == [60, 100, 100]  # doubled, capped
    clock.advance(99)
    assert throttle.retry_after(email) == pytest.approx(1)
    throttle.success(email)
    assert throttle.retry_after(email) == 0 and throttle.failure(email) == 0


def test_throttle_forgets_old_failures_and_stays_bounded() -> None:
    clock = Clock()
    throttle = Throttle(free_failures=1, forget_seconds=600, max_emails=3, clock=clock)
    throttle.failure("a@x.test")
    clock.advance(600)
    assert throttle.failure("a@x.test") == 0  # the old failure no longer counts
    for name in "bcde":
        throttle.failure(f"{name}@x.test")
        throttle.failure(f"{name}@x.test")
    assert throttle.retry_after("e@x.test") > 0
    assert throttle.retry_after("b@x.test") == 0  # dropped: the stalest of more than three


# ------------------------------------------------------------------ sessions


def store_with_clock() -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(idle_seconds=IDLE, max_seconds=ABSOLUTE, clock=clock), clock


def test_session_expires_after_idle_time() -> None:
    store, clock = store_with_clock()
    session = store.create("u1", "u1@x.test")
    clock.advance(IDLE - 1)
    assert store.get(session.session_id) is not None  # a run restarts the idle clock
    clock.advance(IDLE - 1)
    assert store.get(session.session_id, touch=False) is not None
    clock.advance(1)
    assert store.get(session.session_id) is None
    assert store.ended(session.session_id)


def test_session_expires_after_absolute_time_even_when_active() -> None:
    store, clock = store_with_clock()
    session = store.create("u1", "u1@x.test")
    while clock.now + IDLE / 2 < session.created + ABSOLUTE:
        clock.advance(IDLE / 2)
        assert store.get(session.session_id) is not None
    clock.advance(IDLE / 2)
    assert store.get(session.session_id) is None


def test_sign_out_ends_the_session_and_end_user_ends_all() -> None:
    store, _ = store_with_clock()
    first, second = store.create("u1", "a"), store.create("u1", "a")
    other = store.create("u2", "b")
    store.end(first.session_id)
    assert store.get(first.session_id) is None and store.ended(first.session_id)
    assert store.get(second.session_id) is not None
    assert store.end_user("u1") == 1
    assert store.get(second.session_id) is None
    assert store.get(other.session_id) is not None
    assert not store.ended("never-issued")


def test_ticket_is_single_use_and_short_lived() -> None:
    store, clock = store_with_clock()
    ticket = store.issue_ticket("u1", "u1@x.test")
    session = store.redeem_ticket(ticket)
    assert session is not None and session.user_id == "u1"
    assert store.redeem_ticket(ticket) is None
    late = store.issue_ticket("u1", "u1@x.test")
    clock.advance(sessions.TICKET_SECONDS)
    assert store.redeem_ticket(late) is None
    assert store.redeem_ticket("made-up") is None


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
    for bad in (tampered, "abc", "", None, tokens.export_token(signed_in(), filters())):
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


def signed_in(session_id: str = "s1", user_id: str | None = None) -> SignedIn:
    return SignedIn(user_id=user_id or str(uuid.uuid4()), email="a@x.test", session_id=session_id)


def filters() -> Filters:
    return Filters(
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        company_ids=(str(uuid.UUID(int=1)),),
        stages=(3, 1),
        grain="week",
        tz="Europe/Paris",
    )


def test_export_token_carries_session_user_and_filters() -> None:
    user = signed_in()
    url = tokens.export_url(user, filters())
    assert url.startswith(tokens.ROUTE + "?token=")
    grant = tokens.read_export_token(parse_qs(urlsplit(url).query)["token"][0])
    assert grant is not None
    assert (grant.session_id, grant.user_id, grant.filters) == (
        user.session_id,
        user.user_id,
        filters(),
    )


def test_tampered_foreign_or_expired_export_tokens_are_refused() -> None:
    token = tokens.export_token(signed_in(), filters())
    payload = {"sid": "s1", "uid": "u1", "filters": tokens._filters_payload(filters())}

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - tokens.MAX_AGE_SECONDS - 1

    old = URLSafeTimedSerializer(signing.secret_key(), salt=tokens._SALT, signer=LongAgo)
    expired = old.dumps(payload)
    assert tokens.read_export_token(expired, max_age=10**6) is not None  # only too old
    foreign = URLSafeTimedSerializer("another-secret-of-enough-length-000", salt=tokens._SALT)
    for bad in (
        token[:-3] + ("abc" if not token.endswith("abc") else "abd"),
        token + "x",
        sessions.cookie_value("s1"),  # signed by us, for another purpose
        foreign.dumps(payload),
        expired,
        "",
    ):
        assert tokens.read_export_token(bad) is None


def test_export_token_with_invalid_filters_is_refused() -> None:
    bad_filters = tokens._filters_payload(filters()) | {"grain": "hour"}
    token = signing.serializer(tokens._SALT).dumps({"sid": "s", "uid": "u", "filters": bad_filters})
    assert tokens.read_export_token(token) is None


# ------------------------------------------------------------------ the gate (AppTest)


def gate_script() -> None:
    import streamlit as st

    from dashboard.ui import auth

    user = auth.require_user()
    st.write(f"granted:{user.user_id}")


@dataclass
class Gate:
    store: SessionStore
    clock: Clock


@pytest.fixture
def gate_env(app_url: str, monkeypatch: pytest.MonkeyPatch) -> Gate:
    """The app's engine on the test database; a fresh session store with a movable clock."""
    monkeypatch.setenv("DATABASE_URL", app_url)
    store, clock = store_with_clock()
    monkeypatch.setattr(sessions, "store", lambda: store)
    return Gate(store, clock)


def gate(query: dict[str, Any] | None = None, url: str = "http://localhost/") -> AppTest:
    at = AppTest.from_function(gate_script, default_timeout=30)
    at.query_params.update(query or {})
    at.context["url"] = url
    return at


def granted(at: AppTest) -> str | None:
    found = [m.value for m in at.markdown if str(m.value).startswith("granted:")]
    return found[0].removeprefix("granted:") if found else None


def redirect_target(at: AppTest) -> str:
    scripts = [h.proto.body for h in at.get("html")]
    assert scripts, "no redirect was drawn"
    match = re.search(r'window\.location\.replace\("([^"]+)"\)', scripts[-1])
    assert match, scripts[-1]
    return match.group(1)


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
    target = urlsplit(redirect_target(at))
    assert target.path == "/auth/session"
    query = parse_qs(target.query)
    assert query["next"] == ["/error-rates?grain=week&stage=3&stage=4"]
    session = gate_env.store.redeem_ticket(query["ticket"][0])
    assert session is not None and session.user_id == user_id


def injected(at: AppTest, user_id: str, session_id: str | None = None) -> AppTest:
    at.session_state[SESSION_KEY] = SignedIn(
        user_id=user_id, email="a@x.test", session_id=session_id or str(uuid.uuid4())
    )
    return at


def test_a_signed_in_user_passes_and_sees_sign_out(gate_env: Gate, person: tuple[str, str]) -> None:
    at = injected(gate(), person[1]).run()
    assert not at.exception
    assert granted(at) == person[1]
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def test_sign_out_ends_the_session_and_clears_the_cookie(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    session = gate_env.store.create(person[1], person[0])
    at = injected(gate(), person[1], session.session_id).run()
    other_tab = injected(gate(), person[1], session.session_id).run()
    assert granted(at) == granted(other_tab) == person[1]
    at.sidebar.button[0].click().run()
    assert redirect_target(at) == "/auth/signout"
    assert gate_env.store.get(session.session_id) is None
    at.run()
    assert granted(at) is None and at.text_input[0].label == "Email"
    other_tab.run()
    assert granted(other_tab) is None and other_tab.info[0].value == SESSION_ENDED


def test_an_expired_session_shows_the_sign_in_page(gate_env: Gate, person: tuple[str, str]) -> None:
    session = gate_env.store.create(person[1], person[0])
    at = injected(gate(), person[1], session.session_id).run()
    assert granted(at) == person[1]
    gate_env.clock.advance(IDLE)
    at.run()
    assert granted(at) is None
    assert at.info[0].value == SESSION_ENDED
    assert [t.label for t in at.text_input] == ["Email", "Password"]


def test_a_deleted_user_is_signed_out_at_the_next_run(gate_env: Gate, admin_engine: Engine) -> None:
    user_id = admin.add_user(admin_engine, new_email("deleted"), PASSWORD)
    at = injected(gate(), user_id).run()
    assert granted(at) == user_id
    delete_user(admin_engine, user_id)
    at.run()
    assert granted(at) is None and [t.label for t in at.text_input] == ["Email", "Password"]


@pytest.mark.parametrize("state", ["banned", "deleted"])
def test_an_account_closed_while_signed_in_is_signed_out_at_the_next_run(
    gate_env: Gate, admin_engine: Engine, state: str
) -> None:
    user_id = admin.add_user(admin_engine, new_email(state), PASSWORD)
    at = injected(gate(), user_id).run()
    assert granted(at) == user_id
    set_state(admin_engine, user_id, CLOSED[state])
    at.run()
    assert granted(at) is None and [t.label for t in at.text_input] == ["Email", "Password"]


OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "orchdash",
        "client_secret": "secret",
        "server_metadata_url": "http://localhost:1/.well-known/openid-configuration",
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
    assert redirect_target(at) == "/auth/sso?next=%2Fexport%3Fgrain%3Dmonth"


def test_oidc_identity_known_by_email_gets_a_session(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    at = gate()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": person[0].upper(), "sub": "abc"}
    at.run()
    target = urlsplit(redirect_target(at))
    assert target.path == "/auth/session" and "next" not in parse_qs(target.query)
    session = gate_env.store.redeem_ticket(parse_qs(target.query)["ticket"][0])
    assert session is not None and session.user_id == person[1]


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "stranger@example.test", "sub": "s"},
        {"sub": "no-email-claim"},
        {"email": "__person__", "email_verified": False, "sub": "s"},
    ],
)
def test_oidc_identity_without_account_gets_no_access(
    gate_env: Gate, person: tuple[str, str], claims: dict[str, Any]
) -> None:
    at = gate()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True} | {
        k: person[0] if v == "__person__" else v for k, v in claims.items()
    }
    at.run()
    assert not at.exception
    assert at.title[0].value == "No access"
    assert not at.get("html") and granted(at) is None
    at.button[0].click().run()
    assert redirect_target(at) == "/auth/signout"


def test_returning_from_sso_after_an_ended_session_needs_a_new_sign_in(
    gate_env: Gate, person: tuple[str, str]
) -> None:
    """A session that ended (sign-out, expiry) is not reopened by the provider's cookie."""
    session = gate_env.store.create(person[1], person[0])
    gate_env.store.end(session.session_id)
    at = injected(gate(), person[1], session.session_id)
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": person[0]}
    at.run()
    assert at.info[0].value == SESSION_ENDED and not at.get("html")


def test_a_database_that_is_down_gives_a_message_and_retry_never_a_traceback(
    gate_env: Gate, monkeypatch: pytest.MonkeyPatch, person: tuple[str, str]
) -> None:
    # Nothing listens on port 1: connecting is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://orchdash_app@127.0.0.1:1/orchdash")
    signed = injected(gate(), person[1]).run()
    assert not signed.exception and granted(signed) is None
    assert "cannot be reached" in signed.error[0].value
    assert [b.label for b in signed.button] == ["Retry"]
    at = sign_in(gate().run(), person[0], PASSWORD)
    assert not at.exception and "cannot be reached" in at.error[0].value
    assert not at.get("html")
