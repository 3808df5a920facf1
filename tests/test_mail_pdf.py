"""The board pack's PDF (dashboard/mail/printing.py), printed by the real Debian Chromium."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from test_mail_images import (  # noqa: F401 (a fixture, and the module's skip mark)
    PNG_SIGNATURE,
    chart,
    no_browser_left,
    pytestmark,
    session_processes,
    wait_until_gone,
)

from dashboard.mail import images, printing

A4_PT = (595, 842)
HOSTILE = "<img src=x onerror=alert(1)> & Co"


@pytest.fixture(scope="module")
def chart_uri() -> str:
    png = images.png(chart(), width=360, height=200)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def digest(chart_uri: str, rows: int = 200, extra: str = "") -> str:
    """A digest as the mail composes it: a heading, a chart inline, a long table."""
    body = "".join(f"<tr><td>Venture {i}</td><td>{i * 7}</td></tr>" for i in range(rows))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Digest</title>"
        "<style>table { border-collapse: collapse } td { border: 1px solid #ccc }</style>"
        "</head><body><h1>Weekly digest</h1>"
        f"<img src='{chart_uri}' alt='Actions per venture' width='360' height='200'>"
        f"<table>{body}</table>{extra}</body></html>"
    )


def page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def text_heights(page: Any) -> list[tuple[float, str]]:
    """Each run of text on a page with the height of its baseline from the page's bottom."""
    runs: list[tuple[float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: Any) -> None:
        if text.strip():
            runs.append((tm[4] * cm[1] + tm[5] * cm[3] + cm[5], text.strip()))

    page.extract_text(visitor_text=visit)
    return runs


def open_pages(within_s: float = 5.0) -> int:
    """The browser's page targets once closed ones are gone: kaleido's one tab, plus any the
    printer left open. Chromium answers Target.closeTarget before the target leaves its list."""

    async def targets(browser: Any) -> Any:
        return await browser.send_command("Target.getTargets")

    deadline = time.monotonic() + within_s
    while True:
        infos = images.run_on_browser(targets, timeout_s=10, what="the list of tabs")
        pages = sum(t["type"] == "page" for t in infos["result"]["targetInfos"])
        if pages <= 1 or time.monotonic() > deadline:
            return pages
        time.sleep(0.05)


def test_a_long_digest_prints_on_numbered_a4_pages(chart_uri: str) -> None:
    images.stop()
    header = "Companies: Acme, Globex\nTime zone: Europe/Paris\nData as of 2024-05-06 09:00 CEST"
    started = time.perf_counter()
    data = printing.pdf(digest(chart_uri), header=header, footer="Board pack for the chairman")
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    printing.pdf(digest(chart_uri), header=header)
    later_s = time.perf_counter() - started
    print(f"\nfirst PDF (starts Chromium) {first_s:.2f} s, a later one {later_s:.2f} s")

    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    assert pages >= 3
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4_PT[0]) <= 1 and abs(height - A4_PT[1]) <= 1, (width, height)

    texts = [page.extract_text() for page in reader.pages]
    for number, text in enumerate(texts, start=1):
        # Chromium's footer extracts as one line: the footer's text, then "Page N of M".
        assert f"Board pack for the chairman Page {number} of {pages}" in text
        for line in header.splitlines():
            assert line in text
    assert "Weekly digest" in texts[0] and "Venture 0 0" in texts[0]
    assert "Venture 199 1393" in texts[-1]
    assert "about:blank" not in "".join(texts)  # no default header: URL, title, date

    # The bands sit in the margins, clear of the body: header above it, footer below it.
    runs = text_heights(reader.pages[0])
    body = [y for y, text in runs if text.startswith(("Weekly", "Venture"))]
    heading = [y for y, text in runs if text.startswith(("Companies", "Time zone", "Data as"))]
    footer = [y for y, text in runs if text.startswith("Board pack")]
    assert min(heading) > max(body) + 10 and max(footer) < min(body) - 10

    # The chart went into the PDF as an image, not as a broken link.
    assert len(reader.pages[0].images) >= 1


def test_the_header_and_footer_show_hostile_names_as_text(chart_uri: str) -> None:
    footer = '<script>alert(1)</script> <span class="totalPages"></span> "Q&A"'
    options = printing.print_options(HOSTILE, footer)
    assert "<img src=x" not in options["headerTemplate"]
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; Co" in options["headerTemplate"]
    assert "<script>" not in options["footerTemplate"]
    assert options["footerTemplate"].count('class="totalPages"') == 1  # ours, not the name's

    texts = page_texts(printing.pdf(digest(chart_uri), header=HOSTILE, footer=footer))
    pages = len(texts)
    assert HOSTILE in texts[0]
    assert f"{footer} Page 1 of {pages}" in texts[0]


def test_the_a4_options_are_those_asked_for() -> None:
    options = printing.print_options("Acme", "")
    assert (options["paperWidth"], options["paperHeight"]) == (8.27, 11.69)
    assert options["printBackground"] is True and options["displayHeaderFooter"] is True
    assert options["preferCSSPageSize"] is False
    assert "font-size: 8px" in options["headerTemplate"]
    assert "font-size: 8px" in options["footerTemplate"]
    page_of = 'Page <span class="pageNumber"></span> of <span class="totalPages"></span>'
    assert page_of in options["footerTemplate"]
    # A header of three lines gets a deeper margin than one of a line, within reason.
    deeper = printing.print_options("a\nb\nc", "")["marginTop"]
    assert 0.5 < options["marginTop"] < deeper < 1.5


class _Recorder(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<p>FETCHED FROM THE SERVER</p>")

    def log_message(self, *args: Any) -> None:
        pass


def test_nothing_is_fetched_and_no_script_runs(chart_uri: str, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    secret = tmp_path / "secret.html"
    secret.write_text("<p>A LOCAL FILE</p>")
    hostile = (
        f"<img src='{url}/pixel.png'><link rel='stylesheet' href='{url}/style.css'>"
        f"<iframe src='{url}/frame'></iframe><iframe src='{secret.as_uri()}'></iframe>"
        f"<div style='background: url({url}/background.png)'>styled</div>"
        "<script>document.body.append('A SCRIPT RAN')</script>"
    )
    try:
        started = time.perf_counter()
        text = "".join(page_texts(printing.pdf(digest(chart_uri, rows=5, extra=hostile))))
        elapsed_s = time.perf_counter() - started
        print(f"\nPDF of a page asking for six outside resources {elapsed_s:.2f} s")
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.paths == []
    assert "Weekly digest" in text and "styled" in text
    for leaked in ("FETCHED FROM THE SERVER", "A LOCAL FILE", "A SCRIPT RAN"):
        assert leaked not in text


def test_pdfs_and_charts_share_one_browser_and_leave_no_tab(chart_uri: str) -> None:
    printing.pdf(digest(chart_uri, rows=5))
    leader = images.browser_pid()
    assert leader is not None
    assert open_pages() == 1
    started = time.perf_counter()
    assert printing.pdf(digest(chart_uri, rows=5)).startswith(b"%PDF-")
    print(f"\nPDF on the running browser {time.perf_counter() - started:.2f} s")
    assert images.png(chart())[:8] == PNG_SIGNATURE
    assert printing.pdf("<p>After a chart</p>").startswith(b"%PDF-")
    assert images.browser_pid() == leader
    assert open_pages() == 1

    # Threads that print and draw at once take turns on the one browser.
    def job(n: int) -> bytes:
        return printing.pdf(f"<p>Pack {n}</p>") if n % 2 else images.png(chart())

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(6)))
    assert [r[:5] for r in results] == [PNG_SIGNATURE[:5], b"%PDF-"] * 3
    assert images.browser_pid() == leader
    assert open_pages() == 1

    # A failed print closes its tab too: a document past Chromium's 100 MB message limit.
    with pytest.raises(images.ImageError, match="the PDF could not be rendered"):
        printing.pdf("<p>" + "x" * (101 * 1024 * 1024) + "</p>")
    assert images.browser_pid() == leader
    assert open_pages() == 1


def test_a_print_past_its_timeout_raises_and_the_next_one_works(chart_uri: str) -> None:
    printing.pdf("<p>warm</p>")
    leader = images.browser_pid()
    assert leader is not None
    # 20,000 rows take Chromium about twenty seconds to print here: far past a second.
    started = time.perf_counter()
    with pytest.raises(images.ImageTimeout, match="the PDF took longer than 1 s"):
        printing.pdf(digest(chart_uri, rows=20_000), timeout_s=1.0)
    print(f"\nImageTimeout raised after {time.perf_counter() - started:.2f} s (timeout_s=1)")

    # The browser stuck in the print is gone, not printing on in the background.
    assert images.browser_pid() is None
    assert wait_until_gone(leader) == []
    started = time.perf_counter()
    assert len(page_texts(printing.pdf(digest(chart_uri)))) >= 3
    print(f"first PDF after the timeout (new Chromium) {time.perf_counter() - started:.2f} s")
    assert images.browser_pid() not in (None, leader)
    assert images.png(chart())[:8] == PNG_SIGNATURE


def test_stop_after_a_pdf_ends_every_process_of_the_browser() -> None:
    printing.pdf("<p>x</p>")
    leader = images.browser_pid()
    assert leader is not None and len(session_processes(leader)) > 1
    images.stop()
    assert wait_until_gone(leader) == []


def test_without_chromium_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    images.stop()
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "chromium"))
    with pytest.raises(printing.ChromiumMissing, match="apt-get install -y chromium"):
        printing.pdf("<p>x</p>")
    assert images.browser_pid() is None
