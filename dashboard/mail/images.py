"""Plotly figures as PNG bytes for emails and the board pack, drawn by one long-lived Chromium.

``png(figure)`` renders a light-themed copy of a figure through kaleido. Chromium is started on
first use and kept for the life of the process (a start costs two or three seconds, a render a
few tenths), shared by every thread, one render at a time. ``stop()`` shuts it down; it also
runs at exit. ``run_on_browser`` lends the same browser, under the same lock and deadline, to
the board pack's printer (printing.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import kaleido
import plotly.graph_objects as go
from choreographer.browsers import ChromeNotFoundError, Chromium

DEBIAN_CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# The screen's figures are transparent so that Streamlit's theme shows through (charts/theme.py);
# a mail client shows them on white, so the copy gets a white ground, dark text and light grids.
_EMAIL_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"color": "#31333f"},
}

T = TypeVar("T")


class ImageError(RuntimeError):
    """A chart could not be drawn as an image."""


class ImageTimeout(ImageError):
    """A render took longer than its ``timeout_s``; the browser was restarted."""


class ChromiumMissing(ImageError):
    """No Chromium to draw with."""


class _QuietChromium(Chromium):
    # choreographer already passes --no-sandbox (needed as root), --no-first-run,
    # --disable-component-update and --disable-sync. Debian's wrapper would add
    # --disable-background-networking, but not once /etc/chromium.d enables remote extensions;
    # without it Chromium calls Google's servers in the background (field trials, safe browsing),
    # which a closed network never answers.
    def get_cli(self) -> Sequence[str]:
        return [*super().get_cli(), "--disable-background-networking"]


@dataclass
class _Browser:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    kaleido: kaleido.Kaleido

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=max(timeout_s, 0.0))
        except TimeoutError:
            future.cancel()
            raise

    def alive(self) -> bool:
        return self.kaleido.subprocess.poll() is None


_lock = threading.Lock()
_browser: _Browser | None = None


def png(
    figure: go.Figure,
    *,
    width: int = 720,
    height: int = 400,
    scale: float = 1.0,
    timeout_s: float = 30.0,
) -> bytes:
    """PNG bytes of ``figure`` on white, ``width*scale`` x ``height*scale`` pixels.

    ``timeout_s`` bounds the wait for the browser (another thread's render) and the render
    itself, not the first start of Chromium (``START_TIMEOUT_S``). The caller's figure is left
    as it is. Raises ImageTimeout, ChromiumMissing or ImageError.
    """
    email = go.Figure(figure)  # a deep copy: the caller's figure keeps its screen theme
    email.update_layout(_EMAIL_LAYOUT)
    options = {"format": "png", "width": width, "height": height, "scale": scale}
    return run_on_browser(
        lambda browser: browser.calc_fig(email, options), timeout_s=timeout_s, what="the chart"
    )


def run_on_browser(
    job: Callable[[kaleido.Kaleido], Coroutine[Any, Any, T]],
    *,
    timeout_s: float,
    what: str,
) -> T:
    """Run the coroutine ``job(browser)`` on the kept browser's loop and return its result.

    For this package's renderers (``png``, ``printing.pdf``): one job at a time across threads,
    the browser started if need be. ``timeout_s`` bounds the wait for the browser and the job,
    not the first start of Chromium; past it the job is cancelled, the browser restarted and
    ImageTimeout raised. Any other failure of the job is an ImageError naming ``what``.
    """
    deadline = time.monotonic() + timeout_s
    if not _lock.acquire(timeout=max(timeout_s, 0.0)):
        raise ImageTimeout(f"the browser stayed busy with other renders for {timeout_s:g} s")
    try:
        starting = time.monotonic()
        browser = _running_browser()
        deadline += time.monotonic() - starting
        try:
            return browser.run(job(browser.kaleido), deadline - time.monotonic())
        except TimeoutError:
            # The tab may still be busy in the page's JavaScript: only a new browser is sure
            # to be ready for the next call.
            _stop_locked()
            raise ImageTimeout(f"{what} took longer than {timeout_s:g} s to render") from None
        except Exception as error:
            if not browser.alive():
                _stop_locked()
            raise ImageError(f"{what} could not be rendered: {error}") from error
    finally:
        _lock.release()


def browser_pid() -> int | None:
    """The process id of the running browser's process group leader (kaleido's launcher)."""
    with _lock:
        return _browser.kaleido.subprocess.pid if _browser else None


def stop() -> None:
    """Shut the browser down; the next ``png`` starts a new one."""
    with _lock:
        _stop_locked()


def _running_browser() -> _Browser:
    global _browser
    if _browser is not None and not _browser.alive():
        _stop_locked()  # it died since the last render (killed, crashed)
    if _browser is None:
        _browser = _start()
    return _browser


def _browser_path() -> str:
    if not os.environ.get("BROWSER_PATH") and os.path.isfile(DEBIAN_CHROMIUM):
        os.environ["BROWSER_PATH"] = DEBIAN_CHROMIUM
    path = os.environ.get("BROWSER_PATH")
    if not path or not os.access(path, os.X_OK):
        raise ChromiumMissing(
            f"no Chromium at BROWSER_PATH={path or '(unset)'}: "
            "install Debian's with `apt-get install -y chromium`, or set BROWSER_PATH"
        )
    return path


def _start() -> _Browser:
    path = _browser_path()
    loop = asyncio.new_event_loop()
    # A loop of our own, so that png() works the same from a plain thread, from Streamlit's
    # script thread or from code that already runs an event loop.
    thread = threading.Thread(target=loop.run_forever, name="mail-images", daemon=True)
    thread.start()

    async def open_kaleido() -> kaleido.Kaleido:
        # path= rather than the search, which prefers a Chrome downloaded by kaleido_get_chrome;
        # no MathJax (our charts have no LaTeX), whose default is a CDN this network cannot reach;
        # timeout=None: png() enforces its own per-call deadline.
        k = kaleido.Kaleido(path=path, browser_cls=_QuietChromium, mathjax=False, timeout=None)
        await k.open()
        return k

    future = asyncio.run_coroutine_threadsafe(open_kaleido(), loop)
    try:
        k = future.result(timeout=START_TIMEOUT_S)
    except BaseException as error:
        future.cancel()
        _end_loop(loop, thread)
        if not isinstance(error, Exception):
            raise
        if isinstance(error, ChromeNotFoundError):
            raise ChromiumMissing(
                f"{error} (install Debian's with `apt-get install -y chromium`)"
            ) from error
        if isinstance(error, TimeoutError):
            raise ImageError(f"Chromium did not start within {START_TIMEOUT_S:g} s") from None
        raise ImageError(f"Chromium did not start: {error}") from error
    return _Browser(loop, thread, k)


def _stop_locked() -> None:
    global _browser
    browser, _browser = _browser, None
    if browser is None:
        return

    async def close() -> None:
        await browser.kaleido.close()
        # A render cut short by a timeout may still wait on the closed browser.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    with contextlib.suppress(Exception):  # a browser that will not close is killed below
        browser.run(close(), STOP_TIMEOUT_S)
    if browser.alive():
        # choreographer starts the browser in a session of its own: its whole group goes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.kaleido.subprocess.pid, signal.SIGKILL)
        browser.kaleido.subprocess.wait(timeout=STOP_TIMEOUT_S)
    _end_loop(browser.loop, browser.thread)


def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=STOP_TIMEOUT_S)
    if not thread.is_alive():
        loop.close()


atexit.register(stop)
