"""Sign-in in a real Chromium against `orchdash run`: password, session cookie across reloads and
shared links, sign-out in every tab, and OIDC through a real provider (oidc-provider-mock).
"""

from __future__ import annotations

import json
import secrets
import signal
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

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
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.browser

SESSION_COOKIE = "orchdash_session"
SHARED_VIEW = "/error-rates?stage=3&stage=4&grain=week"


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


def authorize_at_provider(page: Page, subject: str) -> None:
    """On the provider's form: sign in as ``subject`` (its email claim is the same)."""
    page.get_by_placeholder("sub").wait_for(timeout=60_000)
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize").click()


def test_oidc_sign_in_of_a_known_email_keeps_the_linked_view(
    page: Page, oidc_app: str, oidc_provider: str, foreign_origins: set[str]
) -> None:
    foreign_origins.add(oidc_provider)  # its pages load a stylesheet from the internet
    page.goto(oidc_app + SHARED_VIEW)
    sign_in_form(page)
    page.get_by_role("button", name="Sign in with SSO").click()
    authorize_at_provider(page, CHAIRMAN)
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
    # A refused download writes an audit row: the Streamlit process joins the embedded server
    # too, as any signed-in page would, and is then among its users. Stopped by SIGTERM, it runs
    # no exit handler to take itself off: `orchdash run` must do it, or the server stays.
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{server.url}/export.csv?token=junk", timeout=30)
    users = json.loads((server.data_dir / "pgdata" / ".handle_pids.json").read_text())
    assert {p.pid for p in streamlit} & set(users)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)
    _, running = psutil.wait_procs(streamlit, timeout=60)
    assert not running, "Streamlit still runs"
    _, running = psutil.wait_procs([postmaster], timeout=60)
    assert not running, "the embedded PostgreSQL still runs"
    assert not healthy(server.url)
