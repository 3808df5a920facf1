"""The board pack's PDF: an HTML document printed on A4 by the Chromium that draws the charts.

``pdf(html, header=..., footer=...)`` opens a tab on the browser of images.py (the same
process, the same lock and the same kind of deadline as ``png``), sets the tab's document to
``html`` directly, waits for its load event and for its images to be decoded, prints it with
Chromium's ``Page.printToPDF`` and closes the tab, whatever happened.

Nothing is fetched: images come as ``data:`` URIs inside the document, and every request the
page would make (http, https, file, ...) is failed by the tab before it leaves the browser.
The page's own scripts do not run. The header and footer texts are shown as text, never as
markup: they hold names users chose.
"""

from __future__ import annotations

import base64
import contextlib
import html as markup
import math
from collections.abc import MutableMapping
from typing import Any

from choreographer import Browser, Tab

from dashboard.mail.images import ChromiumMissing, ImageError, ImageTimeout, run_on_browser

__all__ = ["ChromiumMissing", "ImageError", "ImageTimeout", "pdf"]

A4_IN = (8.27, 11.69)  # width, height
SIDE_MARGIN_IN = 0.5
BAND_FONT_PX = 8  # Chromium draws its header and footer at a tiny default size without one
_LINE_IN = BAND_FONT_PX * 1.4 / 96  # one line of the header or footer, in inches (96 px each)
_CHARS_PER_LINE = 140  # about as many 8 px characters as fit across the band
_MAX_BAND_IN = 2.5  # a header never takes more of the page than this
_READ_CHUNK = 1 << 20

# Resolves once every image is decoded (the load event has already fired, so each has either
# loaded or failed) and the fonts are ready. Promises only: with scripts off, timers never fire.
_SETTLED = """(async () => {
  await Promise.all([...document.images].map((image) => image.decode().catch(() => null)));
  await document.fonts.ready;
})()"""

_BAND = (
    '<div style="box-sizing: border-box; width: 100%; padding: 0 {side}in; '
    "font-family: 'DejaVu Sans', Arial, Helvetica, sans-serif; font-size: {font}px; "
    'line-height: 1.4; color: #555; display: flex; justify-content: space-between; gap: 1em">'
    '<div style="white-space: pre-line; overflow-wrap: anywhere">{text}</div>{right}</div>'
)
_PAGE_OF = (
    '<div style="white-space: nowrap">Page <span class="pageNumber"></span> '
    'of <span class="totalPages"></span></div>'
)


def pdf(html: str, *, header: str = "", footer: str = "", timeout_s: float = 60.0) -> bytes:
    """``html`` printed on A4 (portrait, backgrounds on) as the bytes of a PDF.

    ``header`` is shown at the top of every page, ``footer`` at its bottom left with
    "Page N of M" at its bottom right; both are plain text (newlines break lines) and the
    margins grow to hold them. ``timeout_s`` bounds the wait for the browser (a chart or another
    PDF) and the whole print, not the first start of Chromium. Raises ImageTimeout (the browser
    is restarted), ChromiumMissing or ImageError.
    """
    options = print_options(header, footer)
    return run_on_browser(
        lambda browser: _print(browser, html, options), timeout_s=timeout_s, what="the PDF"
    )


def print_options(header: str, footer: str) -> dict[str, Any]:
    """The parameters of ``Page.printToPDF`` for an A4 page with this header and footer."""
    return {
        "paperWidth": A4_IN[0],
        "paperHeight": A4_IN[1],
        "marginTop": _band_in(header),
        "marginBottom": _band_in(footer),
        "marginLeft": SIDE_MARGIN_IN,
        "marginRight": SIDE_MARGIN_IN,
        "printBackground": True,
        "preferCSSPageSize": False,
        "displayHeaderFooter": True,
        "headerTemplate": _template(header, ""),
        "footerTemplate": _template(footer, _PAGE_OF),
        "transferMode": "ReturnAsStream",
    }


def _template(text: str, right: str) -> str:
    # Escaped, so that a name like '<img src=x onerror=...>' stays text and a '<span
    # class="pageNumber">' in it is not filled in by Chromium.
    escaped = markup.escape(text.strip(), quote=True)
    return _BAND.format(side=SIDE_MARGIN_IN, font=BAND_FONT_PX, text=escaped, right=right)


def _band_in(text: str) -> float:
    # Chromium draws the band inside the page's margin: the margin is what makes room for it.
    wrapped = (math.ceil(len(line) / _CHARS_PER_LINE) for line in text.strip().splitlines())
    lines = sum(max(1, n) for n in wrapped)
    return round(min(0.5 + max(lines, 1) * _LINE_IN, _MAX_BAND_IN), 3)


async def _print(browser: Browser, html: str, options: dict[str, Any]) -> bytes:
    tab = await browser.create_tab()
    try:

        async def refuse(event: MutableMapping[str, Any]) -> None:
            with contextlib.suppress(Exception):  # the tab may be closing
                await tab.send_command(
                    "Fetch.failRequest",
                    {"requestId": event["params"]["requestId"], "errorReason": "BlockedByClient"},
                )

        tab.subscribe("Fetch.requestPaused", refuse)
        await _command(tab, "Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        await _command(tab, "Emulation.setScriptExecutionDisabled", {"value": True})
        await _command(tab, "Page.enable")
        frame = (await _command(tab, "Page.getFrameTree"))["frameTree"]["frame"]["id"]
        loaded = tab.subscribe_once("Page.loadEventFired")
        await _command(tab, "Page.setDocumentContent", {"frameId": frame, "html": html})
        await loaded
        settled = {"expression": _SETTLED, "awaitPromise": True, "returnByValue": True}
        state = await _command(tab, "Runtime.evaluate", settled)
        if "exceptionDetails" in state:
            raise ImageError(f"the document did not settle: {state['exceptionDetails']}")
        printed = await _command(tab, "Page.printToPDF", options)
        return await _read_stream(tab, printed["stream"])
    finally:
        with contextlib.suppress(Exception):  # a browser that died is restarted by the caller
            await tab.close()


async def _read_stream(tab: Tab, handle: str) -> bytes:
    parts: list[bytes] = []
    try:
        while True:
            chunk = await _command(tab, "IO.read", {"handle": handle, "size": _READ_CHUNK})
            data = chunk.get("data", "")
            parts.append(base64.b64decode(data) if chunk.get("base64Encoded") else data.encode())
            if chunk.get("eof", True):
                return b"".join(parts)
    finally:
        with contextlib.suppress(Exception):
            await tab.send_command("IO.close", {"handle": handle})


async def _command(
    tab: Tab, method: str, params: MutableMapping[str, Any] | None = None
) -> MutableMapping[str, Any]:
    response = await tab.send_command(method, params)
    if "error" in response:
        error = response["error"]
        raise ImageError(f"{method} failed: {error.get('message', error)}")
    result: MutableMapping[str, Any] = response.get("result", {})
    return result
