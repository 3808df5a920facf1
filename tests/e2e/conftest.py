"""Shared fixtures of the browser tests: the app as `make run` starts it, and Debian's Chromium.

``app_server`` runs ``orchdash run`` (see harness.AppServer) on a free port with demo data and
yields its base URL; ``start_app_server`` starts more (same or another data folder, other env).
``page`` fails the test on any browser dialog, uncaught page error or console error.
``signed_in_page`` is a page on which the demo chairman has signed in and the Overview is drawn.
Every test in this folder is marked ``browser``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import (
    CHAIRMAN,
    CHROMIUM,
    CHROMIUM_ARGS,
    AppServer,
    demo_password,
    sign_in,
    stop_postmaster,
    streamlit_probe,
    wait_signed_in,
)
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    WebError,
    expect,
    sync_playwright,
)


@pytest.fixture(scope="session")
def start_app_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., AppServer]]:
    """A factory of servers: another data folder, or the same with other settings (port, env).

    Two servers on one data folder share its embedded PostgreSQL and its demo data. All are
    stopped at the end of the session.
    """
    started: list[AppServer] = []

    def start(
        data_dir: Path | None = None, env: dict[str, str] | None = None, port: int | None = None
    ) -> AppServer:
        server = AppServer(data_dir or tmp_path_factory.mktemp("orchdash-e2e"), env, port)
        started.append(server)
        server.start()
        return server

    yield start
    for server in reversed(started):
        server.stop()
    # The last process to leave the embedded server stops it; this covers a crash of all of them.
    for data_dir in {server.data_dir for server in started}:
        stop_postmaster(data_dir / "pgdata")


@pytest.fixture(scope="session")
def app_server_process(start_app_server: Callable[..., AppServer]) -> AppServer:
    return start_app_server()


@pytest.fixture(scope="session")
def app_server(app_server_process: AppServer) -> str:
    """Base URL (``http://localhost:<port>``) of the app on the demo data."""
    return app_server_process.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def foreign_origins() -> set[str]:
    """Origins (``http://host:port``) of pages not ours, e.g. an identity provider's: what their
    consoles report is not held against the app."""
    return set()


@pytest.fixture
def page(browser: Browser, foreign_origins: set[str]) -> Iterator[Page]:
    """A fresh browser context and page; a dialog, page error or console error in any page of
    the context fails the test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    problems: list[str] = []

    def ours(page: Page | None) -> bool:
        url = urlsplit(page.url if page is not None else "")
        return f"{url.scheme}://{url.netloc}" not in foreign_origins

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and ours(message.page) and not streamlit_probe(message):
            problems.append(f"console error: {message.text} at {message.location.get('url')}")

    def on_error(error: WebError) -> None:
        if ours(error.page):
            problems.append(f"page error: {error.error}")

    context.on("dialog", on_dialog)
    context.on("console", on_console)
    context.on("weberror", on_error)
    yield context.new_page()
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def signed_in_page(page: Page, app_server: str) -> Page:
    """The demo chairman signed in through the form; the Overview is drawn."""
    page.goto(app_server)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    return page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test, whether or not it says so."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
