"""A digest from the browser to the inbox and back (issue #18), against `orchdash run` with a real
SMTP server (aiosmtpd): the chairman subscribes with `Email me this`, asks for it with `Send now`
on the Subscriptions page, the sender of `orchdash run` mails it, and its link opens the same
view in Chromium. The message itself is drawn in Chromium for the README (`make screenshots`).
`Download PDF` on the Overview and Venture health gives the board pack.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from drawn import SCREENSHOTS, wait_drawn
from harness import (
    CHAIRMAN,
    AppServer,
    demo_password,
    free_port,
    sign_in,
    wait_for_app,
    wait_signed_in,
)
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from smtp_server import SmtpServer

MAIL_WAIT_S = 90


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture(scope="module")
def mailing_app(
    start_app_server: Callable[..., AppServer], app_server_process: AppServer, inbox: SmtpServer
) -> AppServer:
    """A second `orchdash run` on the demo data, with email configured (and a quick sender)."""
    port = free_port()
    env = {
        "ORCHDASH_SMTP_URL": inbox.url(),
        "ORCHDASH_MAIL_POLL_S": "2",
        "ORCHDASH_PUBLIC_URL": f"http://localhost:{port}",
    }
    return start_app_server(app_server_process.data_dir, env=env, port=port)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def open_nav(page: Page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    wait_for_app(page)


def drawn_message(message: EmailMessage) -> str:
    """The HTML part with its inline images as data URIs, as a mail client shows it."""
    body = message.get_body(("html",))
    assert body is not None
    html = str(body.get_content())
    for part in message.walk():
        if part.get_content_type() == "image/png":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            cid = str(part["Content-ID"]).strip().strip("<>")
            html = html.replace(
                f"cid:{cid}", "data:image/png;base64," + base64.b64encode(data).decode()
            )
    return html


def test_subscribe_send_now_receive_and_follow_the_link(
    page: Page, mailing_app: AppServer, inbox: SmtpServer
) -> None:
    page.goto(f"{mailing_app.url}/error-rates?stage=5&grain=week")
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    wait_drawn(page, "Error rates")
    shown = query(page.url)

    page.get_by_role("button", name="Email me this").click()
    page.get_by_text("Weekly (Mondays)").click()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed: Error rates, every Monday at 08:00")).to_be_visible()
    page.keyboard.press("Escape")

    open_nav(page, "Subscriptions")
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_text("Error rates", exact=True)).to_be_visible()
    page.get_by_role("button", name="Send now").click()
    wait_for_app(page)
    (received,) = inbox.wait_for(1, timeout_s=MAIL_WAIT_S)
    message = received.message
    assert received.rcpt_tos == (CHAIRMAN,)
    assert str(message["Subject"]).startswith("Weekly digest: Error rates, ")

    # The page says it was sent (the sender records it just after SMTP accepted it).
    for _ in range(MAIL_WAIT_S):
        page.reload()
        wait_for_app(page)
        if page.get_by_text(re.compile("^Last digest sent ")).count():
            break
        page.wait_for_timeout(1000)
    expect(page.get_by_text(re.compile("^Last digest sent "))).to_be_visible()

    # The message as a mail client draws it, for the README.
    viewer = page.context.new_page()
    viewer.set_viewport_size({"width": 820, "height": 1000})
    viewer.set_content(drawn_message(message))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(SCREENSHOTS / "digest.png"), full_page=True)
    link = viewer.get_by_role("link", name="Open this view in the dashboard").get_attribute("href")
    viewer.close()

    # Its link opens the same view: the page, the stage, the grain, the zone, the period.
    assert link is not None and link.startswith(f"{mailing_app.url}/error-rates?")
    page.goto(link)
    wait_drawn(page, "Error rates")
    opened = query(page.url)
    assert {k: opened[k] for k in ("stage", "grain", "from", "to")} == {
        k: shown[k] for k in ("stage", "grain", "from", "to")
    }


@pytest.mark.parametrize("title", ["Overview", "Venture health"])
def test_download_pdf_from_the_page(signed_in_page: Page, title: str) -> None:
    page = signed_in_page
    if title != "Overview":
        open_nav(page, title)
    wait_drawn(page, title)
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Download PDF").click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = PdfReader(io.BytesIO(Path(download.path()).read_bytes()))
    first = " ".join(pdf.pages[0].extract_text().split())
    assert f"{title}: board pack" in first and f"Page 1 of {len(pdf.pages)}" in first
