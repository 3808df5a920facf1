"""The review's lock-out, tried in Chromium against `orchdash run`: a stranger's wrong passwords
for the chairman's email, from their own address, must not keep the chairman out when they sign
in from theirs.

The two addresses are set as a proxy on this machine would set them (``X-Forwarded-For``, which
Streamlit's server, uvicorn, trusts from 127.0.0.1 by default: ``FORWARDED_ALLOW_IPS``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from harness import CHAIRMAN, AppServer, demo_password, sign_in, wait_for_app, wait_signed_in
from playwright.sync_api import Browser, Page, expect

from dashboard.ui.auth import BAD_CREDENTIALS
from dashboard.web.throttle import PAIR

pytestmark = pytest.mark.browser

STRANGER, OWNER = "203.0.113.77", "198.51.100.23"


@pytest.fixture
def stranger(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": STRANGER})
    yield context.new_page()
    context.close()


@pytest.fixture
def owner(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": OWNER})
    yield context.new_page()
    context.close()


def refusals(server: AppServer) -> int:
    """The failed attempts from the stranger's address that the server has counted (its log)."""
    return server.log_path.read_text(errors="replace").count(f"from {STRANGER}")


def guess_wrong(page: Page, server: AppServer) -> None:
    """One wrong password, and wait until the server has counted it: a click sent while the last
    attempt's run is still going would interrupt that run before it checks the password."""
    before = refusals(server)
    sign_in(page, CHAIRMAN, "a wrong guess")
    deadline = time.monotonic() + 60
    while refusals(server) == before:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.1)
    expect(page.get_by_text(BAD_CREDENTIALS)).to_be_visible()
    wait_for_app(page)


def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    stranger: Page, owner: Page, app_server_process: AppServer
) -> None:
    app_server = app_server_process.url
    stranger.goto(app_server)
    wait_for_app(stranger)
    # One more than the free failures starts the stranger's wait.
    for _ in range(PAIR.free + 1):
        guess_wrong(stranger, app_server_process)
    # The stranger is now made to wait, even with the right password.
    sign_in(stranger, CHAIRMAN, demo_password(CHAIRMAN))
    expect(stranger.get_by_text("Too many failed sign-in attempts")).to_be_visible()
    expect(stranger.get_by_role("button", name="Sign out")).to_have_count(0)
    # The owner, from their own address, signs in at once.
    owner.goto(app_server)
    wait_for_app(owner)
    sign_in(owner, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(owner)
    expect(owner.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
