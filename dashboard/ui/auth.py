"""The sign-in gate: password and OIDC sign-in, session expiry, throttling, sign-out.

``require_user()`` returns the signed-in person, or draws the sign-in page and stops the run.
Identity comes from the session only: the signed session cookie, looked up in the database's
session store (dashboard/web/sessions.py) on every run, which also restarts the idle clock and
ends the session of an account deleted, banned or unconfirmed since.

Password sign-in checks ``auth.users`` (queries/users.py) after the throttle per client address
and per account (dashboard/web/throttle.py); one generic message for unknown email or wrong
password. OIDC sign-in (when st.secrets has an ``[auth]`` section) goes through ``st.login``
(dashboard/ui/oidc.py decides whom a provider's identity signs in). Both end in a one-time
ticket that the page posts to ``/auth/session`` (a form that submits itself: a constant script
that the Content-Security-Policy allows by its hash), which sets the session cookie.

Tests (AppTest) have no HTTP client, so no cookies: they sign in by putting a ``SignedIn`` into
``st.session_state[SESSION_KEY]``. That is honoured only when the run has no HTTP request headers
at all (never the case in a browser) and, like a cookie, only for a live session of the store.
"""

from __future__ import annotations

import html
import logging
from functools import cache
from urllib.parse import urlencode, urlsplit

import streamlit as st
from sqlalchemy import Engine

from dashboard.charts import format as fmt
from dashboard.ui import oidc
from dashboard.web import headers, sessions
from dashboard.web.log_mask import mask_email
from dashboard.web.routes import SSO_PARAM
from dashboard.web.sessions import SignedIn
from dashboard.web.throttle import Throttle
from queries import DashboardError, get_engine, translated_errors, verify_password

__all__ = ["SESSION_KEY", "SignedIn", "require_user"]

SESSION_KEY = "orchdash_user"
TITLE = "Orchestration metrics"
BAD_CREDENTIALS = "Unknown email or wrong password."
SESSION_ENDED = "Your session has ended. Please sign in again."
# The form that headers.AUTO_SUBMIT_SCRIPT submits.
POST_FORM_ID = "orchdash-post"

log = logging.getLogger("orchdash.auth")


@cache
def throttle() -> Throttle:
    return Throttle(get_engine)


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


def _post(action: str, fields: dict[str, str], label: str) -> None:
    """Post ``fields`` to ``action`` (a route of this app) from this page, and end the run.

    The form submits itself through the one constant script the Content-Security-Policy allows;
    without JavaScript the same step is one click on its button.
    """
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    st.html(
        f'<form id="{POST_FORM_ID}" method="post" action="{html.escape(action)}">'
        f'{hidden}<p>{html.escape(label)} <button type="submit">Continue</button></p></form>'
        f"<script>{headers.AUTO_SUBMIT_SCRIPT}</script>",
        unsafe_allow_javascript=True,
    )
    st.stop()


def _go_signed_in(user_id: str, email: str, next_path: str | None) -> None:
    ticket = sessions.store().issue_ticket(user_id, email)
    _post(
        "/auth/session",
        {"ticket": ticket} | ({"next": next_path} if next_path else {}),
        "Signing in…",
    )


def sign_out() -> None:
    """End the session everywhere (the route also clears this browser's cookies)."""
    st.session_state.pop(SESSION_KEY, None)
    _post("/auth/signout", {}, "Signing out…")


def _session_user() -> tuple[SignedIn | None, bool]:
    """The signed-in user, and whether a session was presented (so it ended if user is None)."""
    store = sessions.store()
    session_id = sessions.session_id_from_cookie(st.context.cookies.get(sessions.COOKIE_NAME))
    if session_id is not None:
        return store.get(session_id), True
    injected = st.session_state.get(SESSION_KEY)
    if isinstance(injected, SignedIn) and not _has_http_client():
        return store.get(injected.session_id), True
    return None, False


def require_user() -> SignedIn:
    """The signed-in user; otherwise the sign-in page is drawn and the run stops here."""
    try:
        with translated_errors():  # the embedded server may be unreachable too
            engine = _engine()
            user, presented = _session_user()
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
            sign_out()
    return user


def _unavailable(exc: DashboardError) -> None:
    st.title(TITLE)
    st.error(exc.user_message, icon=":material/cloud_off:")
    st.button("Retry", key="orchdash-retry", icon=":material/refresh:")
    st.stop()


def _signed_out_page(engine: Engine, *, ended: bool) -> None:
    sso = _oidc_configured()
    # Just back from the identity provider. Not after a session ended, though: that session's
    # expiry or sign-out must not be undone by the provider's identity cookie.
    if sso and st.user.is_logged_in and not ended:
        _oidc_signed_in(engine)
        return
    if sso and SSO_PARAM in st.query_params:
        st.login()
        st.caption("Opening your organisation's sign-in…")
        st.stop()
    st.title(TITLE)
    if ended:
        st.info(SESSION_ENDED, icon=":material/lock_clock:")
    _password_form(engine)
    if sso:
        st.divider()
        if st.button("Sign in with SSO", key="orchdash-sso", icon=":material/key:"):
            _post("/auth/sso", {"next": _current_path()}, "Opening your sign-in…")


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
    address = st.context.ip_address
    client = address if isinstance(address, str) else None  # None: this machine
    try:
        wait = throttle().retry_after(email, client)
        if wait > 0:
            st.error(f"Too many failed sign-in attempts. Try again in {_duration(wait)}.")
            return
        user_id = verify_password(engine, email, password)
        if user_id is None:
            delay = throttle().failure(email, client)
            log.warning(
                "sign-in refused for %s from %s%s",
                mask_email(email.strip()),
                client or "this machine",
                f"; next attempt in {delay:.0f} s" if delay else "",
            )
            st.error(BAD_CREDENTIALS)
            return
        throttle().success(email, client)
    except DashboardError as exc:
        st.error(exc.user_message)
        return
    log.info("signed in: %s", user_id)
    _go_signed_in(user_id, email.strip(), _current_path())


def _oidc_signed_in(engine: Engine) -> None:
    """Back from the identity provider: open our session for a linked or verified account,
    else the no-access page."""
    claims = st.user.to_dict()
    user_id = oidc.account_for(engine, claims, oidc.allowed_issuers(st.secrets["auth"]))
    if user_id is not None:
        # The next path was remembered by /auth/sso in a cookie the route reads.
        _go_signed_in(user_id, str(claims.get("email") or ""), None)
    email = claims.get("email")
    shown = fmt.markdown_text(email if isinstance(email, str) and email else "an unknown user")
    st.title("No access")
    st.write(
        f"You are signed in with your organisation as **{shown}**, but this identity has no "
        "account on this dashboard, or its email address is not verified by your organisation. "
        "If you think it should have one, please ask the dashboard's administrator."
    )
    if st.button("Sign out", key="orchdash-sign-out"):
        sign_out()


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60) + (1 if seconds % 60 else 0)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds > 59 else "a minute"
