"""Sign-in in a real Chromium against `orchdash run`: password, session cookie across reloads and
shared links, sign-out in every tab, and OIDC through a real provider (oidc-provider-mock).

As an attacker would try it: an export link opened in another browser (no cookie, or another
user's), and a page of another origin whose forms and links try to sign the victim out or into
the attacker's account (tests/security/test_sessions_attacks.py has the same through TestClient).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import psutil
import pytest
from harness import (
    CHAIRMAN,
    AppServer,
    demo_password,
    free_port,
    healthy,
    sign_in,
    wait_for_app,
    wait_signed_in,
)
from itsdangerous import URLSafeTimedSerializer
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

pytestmark = pytest.mark.browser

SESSION_COOKIE = "orchdash_session"
SHARED_VIEW = "/error-rates?stage=3&stage=4&grain=week"
ANALYST = "analyst@demo.local"
EXPORT_LINK = re.compile(r"/export\.csv\?link=[A-Za-z0-9_-]{43}")


def session_cookie(context: BrowserContext) -> dict[str, object]:
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    return dict(cookie)


def sign_in_form(page: Page) -> None:
    """Until the sign-in form is drawn (and nothing of the signed-in app)."""
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_password_sign_in_survives_a_reload(page: Page, app_server: str) -> None:
    page.goto(app_server)
    sign_in_form(page)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    cookie = session_cookie(page.context)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert page.evaluate("document.cookie").find(SESSION_COOKIE) == -1  # invisible to scripts
    page.reload()
    wait_signed_in(page)
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)


def test_wrong_password_is_refused_with_the_generic_message(page: Page, app_server: str) -> None:
    page.goto(app_server)
    sign_in_form(page)
    sign_in(page, CHAIRMAN, "not-the-password")
    expect(page.get_by_text("Unknown email or wrong password.")).to_be_visible()
    wait_for_app(page)
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]


def test_shared_link_asks_to_sign_in_then_shows_the_linked_view(
    page: Page, app_server: str
) -> None:
    page.goto(app_server + SHARED_VIEW)
    sign_in_form(page)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    url = urlsplit(page.url)
    assert url.path == "/error-rates"
    query = parse_qs(url.query)
    assert query["stage"] == ["3", "4"] and query["grain"] == ["week"]
    expect(page.get_by_role("heading", name="Error rates")).to_be_visible()


def test_sign_out_ends_the_session_in_every_tab(page: Page, app_server: str) -> None:
    page.goto(app_server + "/export")
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    old_cookie = session_cookie(page.context)
    download = page.get_by_role("link", name="Download CSV")
    export_url = app_server + str(download.get_attribute("href"))
    assert page.request.get(export_url).status == 200

    other_tab = page.context.new_page()
    other_tab.goto(app_server + "/stage-durations")
    wait_signed_in(other_tab)

    page.get_by_role("button", name="Sign out").click()
    sign_in_form(page)
    assert urlsplit(page.url).path == "/"
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]

    # The other tab, still holding the old cookie in its connection: its next run is signed out.
    other_tab.get_by_role("link", name="Overview").click()
    sign_in_form(other_tab)
    expect(other_tab.get_by_text("Your session has ended")).to_be_visible()

    # The old cookie, replayed, opens nothing; the export link made for the session is dead.
    page.context.add_cookies([old_cookie])  # type: ignore[list-item]
    page.goto(app_server)
    sign_in_form(page)
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    refused = page.request.get(export_url)
    assert refused.status == 403 and "no longer valid" in refused.text()


def signed_in_context(browser: Browser, app_server: str, email: str) -> BrowserContext:
    """Another browser (context) in which ``email`` has signed in through the form."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_server)
    sign_in(page, email, demo_password(email))
    wait_signed_in(page)
    return context


def session_id_in(cookie: dict[str, object]) -> str:
    """The session id a cookie carries (read without its key: only its shape matters here)."""
    _, session_id = URLSafeTimedSerializer("unknown").loads_unsafe(str(cookie["value"]))
    assert isinstance(session_id, str) and len(session_id) >= 43
    return session_id


def test_an_export_link_works_only_in_the_browser_that_asked_for_it(
    page: Page, app_server: str, browser: Browser
) -> None:
    page.goto(app_server + "/export")
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    href = str(page.get_by_role("link", name="Download CSV").get_attribute("href"))
    # Opaque: a random value, with neither the session id nor a user or company id in it.
    assert EXPORT_LINK.fullmatch(href), href
    assert session_id_in(session_cookie(page.context)) not in href
    url = app_server + href

    cookieless = browser.new_context()
    analysts = signed_in_context(browser, app_server, ANALYST)
    try:
        for other in (cookieless, analysts):
            refused = other.request.get(url)
            assert refused.status == 403 and "no longer valid" in refused.text()
            assert "csv" not in refused.headers["content-type"]
    finally:
        cookieless.close()
        analysts.close()
    # The browser that asked for it still downloads with it.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.failure() is None


class AttackerSite:
    """A site on another port of localhost: same site for the cookies (SameSite=Lax sends them
    along), another origin for the browser. Its pages post forms to, or link to, the app."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://localhost:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def form(self, name: str, action: str, fields: dict[str, str] | None = None) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in (fields or {}).items()
        )
        self.pages[f"/{name}"] = (
            f'<form method="post" action="{html.escape(action)}">{hidden}'
            "<button>Claim your prize</button></form><script>document.forms[0].submit()</script>"
        )
        return f"{self.url}/{name}"

    def link(self, name: str, target: str) -> str:
        self.pages[f"/{name}"] = f'<a id="go" href="{html.escape(target)}">Claim your prize</a>'
        return f"{self.url}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def attacker_site() -> Iterator[AttackerSite]:
    site = AttackerSite()
    yield site
    site.close()


def attackers_ticket(browser: Browser, app_server: str) -> str:
    """The attacker signs in to their own account and keeps the ticket their page would post."""
    context = browser.new_context()
    context.route("**/auth/session", lambda route: route.abort())
    page = context.new_page()
    page.goto(app_server)
    with page.expect_request(lambda r: urlsplit(r.url).path == "/auth/session") as posted:
        sign_in(page, ANALYST, demo_password(ANALYST))
    [ticket] = parse_qs(posted.value.post_data or "")["ticket"]
    context.close()
    return ticket


def visit(page: Page, url: str, app_path: str, *, click: bool = False) -> Response:
    """Open the attacker's page: the app's answer to what it sends (its form, or its link)."""
    with page.expect_response(lambda r: urlsplit(r.url).path == app_path) as answer:
        page.goto(url)
        if click:
            page.locator("#go").click()
    return answer.value


def test_a_cross_site_form_or_link_neither_signs_out_nor_signs_in(
    browser: Browser, app_server: str, attacker_site: AttackerSite
) -> None:
    victim = signed_in_context(browser, app_server, CHAIRMAN)
    page = victim.pages[0]
    cookie = session_cookie(victim)
    ticket = attackers_ticket(browser, app_server)
    login_link = f"{app_server}/auth/session?{urlencode({'ticket': ticket})}"
    forms = [
        (attacker_site.form("signout", f"{app_server}/auth/signout"), "/auth/signout"),
        (
            attacker_site.form("login", f"{app_server}/auth/session", {"ticket": ticket}),
            "/auth/session",
        ),
        (attacker_site.form("sso", f"{app_server}/auth/sso"), "/auth/sso"),
    ]
    links = [
        (attacker_site.link("signout-link", f"{app_server}/auth/signout"), "/auth/signout"),
        (attacker_site.link("login-link", login_link), "/auth/session"),
    ]
    for url, path in forms + links:
        answer = visit(page, url, path, click=(url, path) in links)
        # Another origin but the same site: the victim's cookie went along, as a real attack's.
        assert SESSION_COOKIE in answer.request.all_headers().get("cookie", ""), url
        # A form is refused; a link (a GET) is no route of ours: Streamlit serves its page.
        assert answer.status == (403 if (url, path) in forms else 200), url
        assert SESSION_COOKIE not in (answer.header_value("set-cookie") or ""), url
        assert session_cookie(victim) == cookie, url
    # Still the victim's own session, in the victim's own account.
    page.goto(app_server)
    wait_signed_in(page)
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    # A browser signed in to nothing is not signed in to the attacker's account either.
    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        assert visit(other, attacker_site.url + "/login", "/auth/session").status == 403
        assert not [c for c in stranger.cookies() if c["name"] == SESSION_COOKIE]
    finally:
        stranger.close()
    victim.close()


# ------------------------------------------------------------------ OIDC


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock on a free local port: the person is chosen on its authorize form."""
    from oidc_provider_mock import run_server_in_thread

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on localhost
        with run_server_in_thread(port=free_port()) as server:
            yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def oidc_app(
    oidc_provider: str,
    app_server_process: AppServer,
    start_app_server: Callable[..., AppServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A second `orchdash run` on the same data, with an [auth] section in its secrets."""
    port = free_port()
    secrets_file = tmp_path_factory.mktemp("oidc") / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "orchdash-e2e"\n'
        'client_secret = "orchdash-e2e-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    server = start_app_server(
        data_dir=app_server_process.data_dir,
        port=port,
        env={"STREAMLIT_SECRETS_FILES": str(secrets_file)},
    )
    return server.url


def set_claims(provider: str, subject: str, claims: dict[str, object]) -> None:
    """What the provider says of ``subject`` (oidc-provider-mock's PUT /users/<sub>)."""
    request = urllib.request.Request(
        f"{provider}/users/{subject}",
        data=json.dumps(claims).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def authorize_at_provider(page: Page, subject: str) -> None:
    """On the provider's form: sign in as ``subject`` (with the claims set for it, else only an
    email claim equal to it)."""
    page.get_by_placeholder("sub").wait_for(timeout=60_000)
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize").click()


def test_oidc_sign_in_of_a_known_email_keeps_the_linked_view(
    page: Page, oidc_app: str, oidc_provider: str, foreign_origins: set[str]
) -> None:
    foreign_origins.add(oidc_provider)  # its pages load a stylesheet from the internet
    set_claims(oidc_provider, "chairman-at-idp", {"email": CHAIRMAN, "email_verified": True})
    page.goto(oidc_app + SHARED_VIEW)
    sign_in_form(page)
    page.get_by_role("button", name="Sign in with SSO").click()
    authorize_at_provider(page, "chairman-at-idp")
    wait_signed_in(page)
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    url = urlsplit(page.url)
    assert url.path == "/error-rates" and parse_qs(url.query)["stage"] == ["3", "4"]
    names = {c["name"] for c in page.context.cookies()}
    assert SESSION_COOKIE in names
    assert not {n for n in names if n.startswith("_streamlit_user")}  # our session only
    page.reload()
    wait_signed_in(page)
    page.get_by_role("button", name="Sign out").click()
    sign_in_form(page)
    expect(page.get_by_role("button", name="Sign in with SSO")).to_be_visible()


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"email_verified": False}, id="email_verified false"),
        pytest.param({}, id="no email_verified claim"),
    ],
)
def test_oidc_email_the_provider_does_not_verify_signs_nobody_in(
    page: Page,
    oidc_app: str,
    oidc_provider: str,
    foreign_origins: set[str],
    claims: dict[str, object],
) -> None:
    """An outsider whose provider lets them claim the chairman's email, unverified (a
    multi-tenant Entra app sends no email_verified at all), gets no session."""
    foreign_origins.add(oidc_provider)
    forger = f"forger-{secrets.token_hex(4)}"
    set_claims(oidc_provider, forger, {"email": CHAIRMAN} | claims)
    page.goto(oidc_app)
    sign_in_form(page)
    page.get_by_role("button", name="Sign in with SSO").click()
    authorize_at_provider(page, forger)
    expect(page.get_by_role("heading", name="No access")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_have_count(0)


def test_oidc_person_without_account_gets_no_access(
    page: Page, oidc_app: str, oidc_provider: str, foreign_origins: set[str]
) -> None:
    foreign_origins.add(oidc_provider)
    page.goto(oidc_app)
    sign_in_form(page)
    page.get_by_role("button", name="Sign in with SSO").click()
    authorize_at_provider(page, "stranger@elsewhere.example")
    expect(page.get_by_role("heading", name="No access")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_text("stranger@elsewhere.example")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    page.get_by_role("button", name="Sign out").click()
    sign_in_form(page)
    assert not {c["name"] for c in page.context.cookies() if c["name"].startswith("_streamlit_u")}


def test_sign_in_from_the_root_lands_on_the_overview(signed_in_page: Page) -> None:
    expect(signed_in_page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    expect(signed_in_page.get_by_role("link", name="Export")).to_be_visible()
    assert urlsplit(signed_in_page.url).path == "/"


def test_sigterm_stops_the_app_and_its_embedded_database(
    start_app_server: Callable[..., AppServer], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`docker stop` and systemd send SIGTERM to `orchdash run` alone: Streamlit and the embedded
    PostgreSQL must stop with it, as on Ctrl-C, not be left running."""
    server = start_app_server(data_dir=tmp_path_factory.mktemp("orchdash-sigterm"))
    assert server.process is not None
    pid_file = server.data_dir / "pgdata" / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    streamlit = psutil.Process(server.process.pid).children()
    assert streamlit
    # Redeeming a (made-up) ticket asks the database: the Streamlit process joins the embedded
    # server too, as any signed-in page would, and is then among its users. Stopped by SIGTERM,
    # it runs no exit handler to take itself off: `orchdash run` must do it, or the server stays.
    redeem = urllib.request.Request(
        f"{server.url}/auth/session",
        data=urlencode({"ticket": secrets.token_urlsafe(32)}).encode(),
        headers={"Origin": server.url},
    )
    with urllib.request.urlopen(redeem, timeout=30) as response:
        assert response.status == 200  # the sign-in page, after the redirect
    users = json.loads((server.data_dir / "pgdata" / ".handle_pids.json").read_text())
    assert {p.pid for p in streamlit} & set(users)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)
    _, running = psutil.wait_procs(streamlit, timeout=60)
    assert not running, "Streamlit still runs"
    _, running = psutil.wait_procs([postmaster], timeout=60)
    assert not running, "the embedded PostgreSQL still runs"
    assert not healthy(server.url)
