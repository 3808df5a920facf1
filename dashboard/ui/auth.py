"""The sign-in gate: password and OIDC sign-in, session expiry, lock-out, sign-out.

``require_user()`` returns the signed-in person, or draws the sign-in page and stops the run.
Identity comes from the session only: the signed session cookie, looked up in the server-side
store (dashboard/web/sessions.py) on every run, which also restarts the idle clock. The user is
re-checked in ``auth.users`` on every run, so a deleted account is signed out at once.

Password sign-in checks ``auth.users`` (queries/users.py) after the per-email throttle
(dashboard/web/throttle.py); one generic message for unknown email or wrong password. OIDC sign-in
(when st.secrets has an ``[auth]`` section) goes through ``st.login``; the provider's email is
matched to ``auth.users`` and an unknown person gets a polite "no access" page. Both end in a
one-time ticket that the browser takes to ``/auth/session``, which sets the session cookie.

Tests (AppTest) have no HTTP client, so no cookies: they sign in by putting a ``SignedIn`` into
``st.session_state[SESSION_KEY]``. That is honoured only when the run has no HTTP request headers
at all (never the case in a browser) and, like a cookie, only for a user that exists; if its
``session_id`` is one of the store's, that session's expiry applies too.
"""

from __future__ import annotations

import html
import json
import logging
from functools import cache
from urllib.parse import quote, urlencode, urlsplit

import streamlit as st
from sqlalchemy import Engine

from dashboard.charts import format as fmt
from dashboard.web import sessions
from dashboard.web.routes import SSO_PARAM
from dashboard.web.sessions import SignedIn
from dashboard.web.throttle import Throttle
from queries import (
    DashboardError,
    get_engine,
    translated_errors,
    user_exists,
    user_id_for_email,
    verify_password,
)

__all__ = ["SESSION_KEY", "SignedIn", "require_user"]

SESSION_KEY = "orchdash_user"
TITLE = "Orchestration metrics"
BAD_CREDENTIALS = "Unknown email or wrong password."
SESSION_ENDED = "Your session has ended. Please sign in again."

log = logging.getLogger("orchdash.auth")


@cache
def throttle() -> Throttle:
    return Throttle()


def _engine() -> Engine:
    return get_engine()


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def _has_http_client() -> bool:
    return len(st.context.headers) > 0


def _current_path() -> str:
    """This page's path and query, to come back to after sign-in (a shared link's view)."""
    path = urlsplit(st.context.url or "").path or "/"
    params = [
        (key, value)
        for key in st.query_params
        if key != SSO_PARAM
        for value in st.query_params.get_all(key)
    ]
    return f"{path}?{urlencode(params)}" if params else path


def _go(url: str, label: str) -> None:
    """Send the whole browser window to ``url`` (a path of this app) and end the run."""
    target = json.dumps(url).replace("<", "\\u003c")  # no "</script>" inside the script
    st.html(f"<script>window.location.replace({target});</script>", unsafe_allow_javascript=True)
    # Without JavaScript the same step is one click away.
    link = f'<a href="{html.escape(url)}" target="_self">Continue</a>'
    st.markdown(f"{html.escape(label)} {link}", unsafe_allow_html=True)
    st.stop()


def _go_signed_in(user_id: str, email: str, next_path: str | None) -> None:
    ticket = sessions.store().issue_ticket(user_id, email)
    query = {"ticket": ticket} | ({"next": next_path} if next_path else {})
    _go(f"/auth/session?{urlencode(query, quote_via=quote)}", "Signing in…")


def _session_user(engine: Engine) -> tuple[SignedIn | None, bool]:
    """The signed-in user, and whether a session was presented (so it ended if user is None)."""
    store = sessions.store()
    session_id = sessions.session_id_from_cookie(st.context.cookies.get(sessions.COOKIE_NAME))
    if session_id is not None:
        session = store.get(session_id)
        if session is None:
            return None, True
        if not user_exists(engine, session.user_id):
            store.end_user(session.user_id)
            return None, True
        return session.signed_in(), True
    injected = st.session_state.get(SESSION_KEY)
    if isinstance(injected, SignedIn) and not _has_http_client():
        known = store.get(injected.session_id)
        alive_or_foreign = known is not None or not store.ended(injected.session_id)
        if alive_or_foreign and user_exists(engine, injected.user_id):
            return injected, True
        return None, True
    return None, False


def require_user() -> SignedIn:
    """The signed-in user; otherwise the sign-in page is drawn and the run stops here."""
    try:
        with translated_errors():  # the embedded server may be unreachable too
            engine = _engine()
        user, presented = _session_user(engine)
    except DashboardError as exc:
        _unavailable(exc)
        raise AssertionError("unreachable") from None
    if user is None:
        st.session_state.pop(SESSION_KEY, None)
        _signed_out_page(engine, ended=presented)
        st.stop()
    st.session_state[SESSION_KEY] = user
    with st.sidebar:
        st.caption(f"Signed in as {fmt.markdown_text(user.email)}")
        if st.button("Sign out", key="orchdash-sign-out", icon=":material/logout:"):
            sessions.store().end(user.session_id)
            st.session_state.pop(SESSION_KEY, None)
            _go("/auth/signout", "Signing out…")
    return user


def _unavailable(exc: DashboardError) -> None:
    st.title(TITLE)
    st.error(exc.user_message, icon=":material/cloud_off:")
    st.button("Retry", key="orchdash-retry", icon=":material/refresh:")
    st.stop()


def _signed_out_page(engine: Engine, *, ended: bool) -> None:
    oidc = _oidc_configured()
    # Just back from the identity provider. Not after a session ended, though: that session's
    # expiry or sign-out must not be undone by the provider's identity cookie.
    if oidc and st.user.is_logged_in and not ended:
        _oidc_signed_in(engine)
        return
    if oidc and SSO_PARAM in st.query_params:
        st.login()
        st.caption("Opening your organisation's sign-in…")
        st.stop()
    st.title(TITLE)
    if ended:
        st.info(SESSION_ENDED, icon=":material/lock_clock:")
    _password_form(engine)
    if oidc:
        st.divider()
        if st.button("Sign in with SSO", key="orchdash-sso", icon=":material/key:"):
            _go(f"/auth/sso?{urlencode({'next': _current_path()})}", "Opening your sign-in…")


def _password_form(engine: Engine) -> None:
    with st.form("orchdash-sign-in", enter_to_submit=True):
        email = st.text_input("Email", autocomplete="username", max_chars=320)
        password = st.text_input(
            "Password", type="password", autocomplete="current-password", max_chars=256
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if not email.strip() or not password:
        st.error("Enter your email and password.")
        return
    wait = throttle().retry_after(email)
    if wait > 0:
        st.error(f"Too many failed sign-in attempts. Try again in {_duration(wait)}.")
        return
    try:
        user_id = verify_password(engine, email, password)
    except DashboardError as exc:
        st.error(exc.user_message)
        return
    if user_id is None:
        lock = throttle().failure(email)
        log.warning(
            "sign-in refused for %r%s", email.strip(), f"; locked {lock:.0f} s" if lock else ""
        )
        st.error(BAD_CREDENTIALS)
        return
    throttle().success(email)
    log.info("signed in: %s", user_id)
    _go_signed_in(user_id, email.strip(), _current_path())


def _oidc_signed_in(engine: Engine) -> None:
    """Back from the identity provider: open our session for a known email, else no access."""
    claims = st.user.to_dict()
    email = claims.get("email") or claims.get("sub")
    verified = claims.get("email_verified", True) is not False
    user_id = user_id_for_email(engine, str(email)) if isinstance(email, str) and verified else None
    if user_id is not None:
        # The next path was remembered by /auth/sso in a cookie the route reads.
        _go_signed_in(user_id, str(email), None)
    shown = fmt.markdown_text(email or "an unknown user")
    st.title("No access")
    st.write(
        f"You are signed in with your organisation as **{shown}**, but "
        "this address has no account on this dashboard. If you think it should, please ask "
        "the dashboard's administrator to add it."
    )
    if st.button("Sign out", key="orchdash-sign-out"):
        _go("/auth/signout", "Signing out…")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60) + (1 if seconds % 60 else 0)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds > 59 else "a minute"
