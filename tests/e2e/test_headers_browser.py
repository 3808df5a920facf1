"""The security headers on `orchdash run`, and its Content-Security-Policy in Chromium: every page
of the registry works under it (sign-in included, Plotly charts drawn, no violation) and no
other page may frame the app.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest
from harness import CHAIRMAN, demo_password, sign_in, wait_for_app, wait_signed_in
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from dashboard.ui import pages

SECURED = {
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
# Not the header module's constants: what the issue asks for, written out.
REQUIRED_DIRECTIVES = (
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CSP_WORDS = ("Content Security Policy", "Refused to")
# Every violation the page sees, whatever the console makes of it (Chromium logs none for one
# refused WebAssembly compile).
RECORD_VIOLATIONS = """document.addEventListener("securitypolicyviolation", event => {
    (window.__violations ||= []).push(
        `${event.effectiveDirective} ${event.blockedURI} ${event.sourceFile}`);
});"""
# Long.js inside Streamlit's protobuf bundle tries a WebAssembly multiply and falls back to plain
# JavaScript when it is refused: the one refusal the policy means ('wasm-unsafe-eval' stays out).
LONG_JS_PROBE = re.compile(r"^script-src wasm-eval \S*/static/js/protobuf\.[\w-]+\.js$")
ALL_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll("[data-testid='stPlotlyChart']"))
    .every(chart => chart.querySelector(".main-svg") !== null)"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def response_headers(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, Message]:
    """Status and headers of exactly this response (redirects and errors not followed)."""
    opener = urllib.request.build_opener(_NoRedirect)
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def assert_secured(headers: Message) -> None:
    for name, value in SECURED.items():
        assert headers.get_all(name) == [value], name
    [policy] = headers.get_all("content-security-policy") or [""]
    for directive in REQUIRED_DIRECTIVES:
        assert directive in [part.strip() for part in policy.split(";")], directive
    assert "'unsafe-eval'" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def static_assets(app_server: str) -> list[str]:
    with urllib.request.urlopen(app_server + "/", timeout=30) as response:
        index = response.read().decode()
    found = re.findall(r'(?:src|href)="\./(static/(?:js|css)/[^"]+)"', index)
    assert found, "no static asset in index.html"
    return [f"{app_server}/{found[0]}", f"{app_server}/favicon.png"]


def test_streamlits_responses_and_ours_carry_the_headers(app_server: str) -> None:
    urls = {
        ("GET", f"{app_server}/"): 200,
        ("GET", f"{app_server}/_stcore/health"): 200,
        ("GET", f"{app_server}/_stcore/host-config"): 200,
        ("GET", f"{app_server}/media/no-such-file.png"): 404,
        ("GET", f"{app_server}/export.csv?link=not-a-link"): 403,
        # Refused without a page of this site as Origin, or redirected: never the index.
        ("POST", f"{app_server}/auth/signout"): None,
    }
    urls.update({("GET", url): 200 for url in static_assets(app_server)})
    for (method, url), status in urls.items():
        got, headers = response_headers(url, method=method)
        assert got == status if status else got >= 300, url
        assert_secured(headers)
        assert headers.get_all("strict-transport-security") is None, url


@pytest.mark.parametrize(("forwarded", "hsts"), [("https", True), ("http", False)])
def test_hsts_only_behind_an_https_proxy(app_server: str, forwarded: str, hsts: bool) -> None:
    for path in ("/", "/_stcore/health", "/export.csv"):
        _, headers = response_headers(app_server + path, {"X-Forwarded-Proto": forwarded})
        assert_secured(headers)
        expected = ["max-age=31536000"] if hsts else None
        assert headers.get_all("strict-transport-security") == expected, path


def test_every_page_works_under_the_policy(page: Page, app_server: str) -> None:
    """Sign-in and every page of the registry, charts drawn, without one policy violation."""
    messages: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if any(word in message.text for word in CSP_WORDS):
            messages.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(app_server)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    charts = 0
    for entry in pages.PAGES:
        nav = page.locator("[data-testid='stSidebarNav']")
        nav.get_by_role("link", name=entry.title, exact=True).click()
        expect(page.get_by_role("heading", name=entry.title, exact=True)).to_be_visible(
            timeout=60_000
        )
        wait_for_app(page)
        page.wait_for_function(ALL_CHARTS_DRAWN, timeout=60_000)
        drawn = page.locator("[data-testid='stPlotlyChart'] .main-svg")
        for n in range(drawn.count()):
            expect(drawn.nth(n)).to_be_visible()
        charts += drawn.count()
    assert charts > 0, "no page drew a Plotly chart"
    # The Venture health heatmap is a data: image inside the chart: drawn, not refused.
    violations = page.evaluate("() => window.__violations || []")
    assert [v for v in violations if not LONG_JS_PROBE.match(v)] == []
    assert messages == []


def test_no_page_may_frame_the_app(browser: Browser, app_server: str) -> None:
    context = browser.new_context()
    try:
        framing = context.new_page()
        with framing.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text):
            framing.set_content(f'<iframe src="{app_server}/"></iframe>')
        [child] = framing.main_frame.child_frames
        assert not child.url.startswith(app_server)  # Chromium's error page instead
        assert child.locator("[data-testid='stApp']").count() == 0
    finally:
        context.close()
