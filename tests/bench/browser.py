"""The browser figures: `orchdash run` on a bench database, Debian's Chromium through Playwright.

Measured: from the click on `Sign in` to the Overview drawn (its title, its four downloads, the
script finished, every component drawn), and from choosing another Period to the page drawn
again. Each is also timed to the moment the run's elements are all in place (Streamlit idle, no
stale element), before the code of components drawn for the first time (a skeleton meanwhile)
has loaded: the two figures of one run say which part is the server's. The server reads the
bench database as the runtime role (DATABASE_URL); nothing is migrated or loaded by it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CSV_BUTTONS_JS,
    PROJECT_DIR,
    RUN_IN_PLACE,
    free_port,
    wait_for_app,
)
from playwright.sync_api import Page, sync_playwright

# The Overview drawn: its title, its downloads (the tiles, their trends, the two tables), and
# Streamlit idle again.
OVERVIEW_DRAWN = f"""() =>
    {CSV_BUTTONS_JS}.length >= 4
    && [...document.querySelectorAll("h1")].some(h => h.textContent.trim() === "Overview")"""
START_TIMEOUT_S = 120


@contextmanager
def app_server(app_url: str, log: Path) -> Iterator[str]:
    """`orchdash run` against ``app_url`` on a free port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ORCHDASH_ADMIN_DATABASE_URL"}
    env |= {
        "DATABASE_URL": app_url,
        "STREAMLIT_SERVER_PORT": str(port),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    command = [sys.executable, "-m", "dashboard.cli", "run"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=out, start_new_session=True
        )
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    import urllib.error
    import urllib.request

    for _ in range(START_TIMEOUT_S * 4):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"orchdash run exited with {process.returncode}")
    raise RuntimeError("orchdash run did not become healthy")


def _drawn(page: Page) -> float:
    """Until the Overview is drawn; returns the moment the run's elements were all in place."""
    page.wait_for_function(OVERVIEW_DRAWN, timeout=120_000)
    page.wait_for_function(RUN_IN_PLACE, timeout=120_000)
    in_place = time.perf_counter()
    wait_for_app(page, 120_000)
    return in_place


def _choose_period(page: Page, option: str) -> float:
    """Opens the Period box and types the option's name, then chooses it: returns the moment of
    the choice (typing is the user's time, not the dashboard's)."""
    box = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name="Period")
    box.click()
    box.press_sequentially(option)
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for()
    chosen = time.perf_counter()
    choice.click()
    page.keyboard.press("Escape")
    return chosen


def measure(url: str, accounts: list[tuple[str, str]], changes: int) -> dict[str, list[float]]:
    """Seconds from `Sign in` to the Overview drawn, and from a Period change to the page drawn
    again. Each account signs in once, in a fresh browser context, then changes the Period
    ``changes`` times, to periods it has not seen: Streamlit's cache is shared by every session
    of the server and keyed by the user, so every figure here is a first load."""
    out: dict[str, list[float]] = {"sign_in": [], "period": [], "sign_in_run": [], "period_run": []}
    periods = ["All time", "Last 90 days", "Year to date", "Quarter to date"][:changes]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for email, password in accounts:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(url)
                page.get_by_label("Email").wait_for(timeout=60_000)
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password", exact=True).fill(password)
                started = time.perf_counter()
                page.get_by_role("button", name="Sign in", exact=True).click()
                in_place = _drawn(page)
                out["sign_in"].append(time.perf_counter() - started)
                out["sign_in_run"].append(in_place - started)
                for period in periods:
                    before = page.url
                    started = _choose_period(page, period)
                    page.wait_for_function(
                        "old => location.href !== old", arg=before, timeout=120_000
                    )
                    in_place = _drawn(page)
                    out["period"].append(time.perf_counter() - started)
                    out["period_run"].append(in_place - started)
                context.close()
        finally:
            browser.close()
    return out
