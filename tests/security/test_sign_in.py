"""Case 7, sign-in: 20 wrong passwords for one email are throttled; an unknown and a known email
get the same page for the same work; an expired session's cookie and open tab show the sign-in
page.

Sign-out with the old cookie in every tab, in Chromium: tests/e2e/test_signin.py
(test_sign_out_ends_the_session_in_every_tab); idle and absolute expiry with a moved clock:
tests/test_auth.py. Here the absolute expiry runs on a real server with a real cookie.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import bcrypt
import pytest
from harness import AppServer
from posted_form import posted_form
from sqlalchemy import Engine, text
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.Metric_pb2 import Metric
from streamlit.proto.TextInput_pb2 import TextInput
from streamlit.testing.v1 import AppTest

from dashboard.ui import auth
from dashboard.web.throttle import PAIR, Throttle
from queries import get_engine
from security import apptest
from security import world as w
from security.elements import fingerprint
from security.servers import start_server
from security.wsclient import Drawn, Tab, run_async, sign_in

UNKNOWN = "nobody-at-all@security.test"


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The cost factor of every bcrypt check made: the work a sign-in attempt costs."""
    costs: list[int] = []
    real: Callable[[bytes, bytes], bool] = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    return costs


@pytest.fixture
def fresh_throttle(hostile_owner: Engine) -> Throttle:
    """The app's throttle with no failures counted yet (every AppTest client is this machine)."""
    with hostile_owner.begin() as conn:
        conn.execute(text("DELETE FROM orchdash.sign_in_failures"))
        conn.execute(text("DELETE FROM orchdash.sign_in_load"))
    return Throttle(get_engine)


def submit(at: AppTest, email: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Email"].input(email)
    inputs["Password"].input(password)
    return next(b for b in at.button if b.label == "Sign in").click().run()


def signed_out_page(world: w.World) -> AppTest:
    return apptest.app_for(world, None).run()


def redirected(at: AppTest) -> bool:
    forms = [posted_form(h.proto.body) for h in at.get("html")]
    return any(f is not None and f[0] == "/auth/session" and f[1]["ticket"] for f in forms)


def test_twenty_wrong_passwords_for_one_email_are_throttled(
    app_env: str, hostile_world: w.World, fresh_throttle: Throttle, bcrypt_checks: list[int]
) -> None:
    at = signed_out_page(hostile_world)
    shown = [submit(at, w.email("A"), f"guess {n}").error[0].value for n in range(20)]
    # The failure after the free ones is checked, and starts the lock.
    checked = PAIR.free + 1
    assert shown[:checked] == [auth.BAD_CREDENTIALS] * checked
    assert all(m.startswith("Too many failed sign-in attempts") for m in shown[checked:])
    # Locked attempts are refused before any password check: guessing stops there.
    assert len(bcrypt_checks) == checked
    submit(at, w.email("A"), w.password("A"))  # even the right password waits
    assert at.error[0].value.startswith("Too many failed") and not redirected(at)
    other = submit(signed_out_page(hostile_world), w.email("B"), w.password("B"))
    assert not other.error and redirected(other)  # the wait is this email's from this client


def test_unknown_and_known_email_get_the_same_page_for_the_same_work(
    app_env: str, hostile_world: w.World, fresh_throttle: Throttle, bcrypt_checks: list[int]
) -> None:
    pages: list[list[str]] = []
    work: list[list[int]] = []
    for email in (w.email("A"), UNKNOWN):
        bcrypt_checks.clear()
        at = submit(signed_out_page(hostile_world), email, "not the password")
        assert [e.value for e in at.error] == [auth.BAD_CREDENTIALS]
        pages.append(fingerprint(apptest.shot(at), {email: "EMAIL"}))
        work.append(list(bcrypt_checks))
    assert pages[0] == pages[1]
    # One bcrypt check of the same cost for both: the answer takes as long either way.
    assert work[0] == work[1] == [work[0][0]] and work[0][0] >= 10


# ---- expiry, with a real cookie on a real server -------------------------------------------

MAX_SECONDS = 8.0


@pytest.fixture(scope="module")
def short_sessions(
    tmp_path_factory: pytest.TempPathFactory, hostile_app_url: str
) -> Iterator[AppServer]:
    """A server whose sessions end 8 seconds after sign-in, however active."""
    server = start_server(
        tmp_path_factory,
        hostile_app_url,
        {"ORCHDASH_SESSION_MAX_HOURS": repr(MAX_SECONDS / 3600)},
    )
    yield server
    server.stop()


def signed_out(drawn: Drawn) -> bool:
    labels = {t.label for t in drawn.of(TextInput)}
    return labels == {"Email", "Password"} and not drawn.of(Metric)


def test_after_expiry_the_old_cookie_and_the_open_tab_show_the_sign_in_page(
    short_sessions: AppServer,
) -> None:
    url = short_sessions.url

    async def scenario() -> None:
        cookie = await sign_in(url, w.email("A"), w.password("A"))
        signed_in_at = time.monotonic()
        assert cookie
        async with Tab(url, cookie) as tab:
            assert not signed_out(await tab.run())
            # The old cookie, in a new tab, until the session is over (waiting on the app's
            # answer, which each probe gets afresh; using the session does not extend it).
            while not signed_out(probe := await new_tab_run(url, cookie)):
                assert time.monotonic() - signed_in_at < MAX_SECONDS + 30
            assert time.monotonic() - signed_in_at >= MAX_SECONDS
            assert auth.SESSION_ENDED in [a.body for a in probe.of(Alert)]
            # The tab that stayed open shows the sign-in page at its next interaction.
            assert signed_out(await tab.run("error-rates"))

    run_async(scenario())


async def new_tab_run(url: str, cookie: str) -> Drawn:
    async with Tab(url, cookie) as tab:
        return await tab.run()
