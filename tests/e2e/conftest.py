"""Shared fixtures of the browser tests: the app as `make run` starts it, and Debian's Chromium.

``app_server`` runs ``orchdash run`` (embedded PostgreSQL in a temporary data folder, migrations,
demo data, ``streamlit run dashboard/server.py``) on a free port and yields its base URL.
``page`` fails the test on any browser dialog, uncaught page error or console error.
``signed_in_page`` is a page on which the demo chairman has signed in and the Overview is drawn.

Waiting is always on the app's own state: ``wait_for_app`` waits until Streamlit's root element
reports a connected session whose script is not running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROJECT_DIR = Path(__file__).resolve().parents[2]
DEMO_ROWS = os.environ.get("ORCHDASH_E2E_DEMO_ROWS", "30000")
START_TIMEOUT_S = 300
CHAIRMAN = "chairman@demo.local"

# Streamlit's root element: connected, and no script run under way.
APP_IDLE = (
    "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
    "[data-test-script-state='notRunning']"
)
_PROBE = re.compile(r"/[^/]+/_stcore/(health|host-config)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class AppServer:
    """An ``orchdash run`` process in its own process group, with its log and data folder."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.log_path = data_dir / "server.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            # `make run` on a fresh machine: the embedded database, never an external one.
            if key not in ("DATABASE_URL", "ORCHDASH_ADMIN_DATABASE_URL")
        }
        self.env.update(
            {
                "ORCHDASH_DATA_DIR": str(data_dir),
                "STREAMLIT_SERVER_PORT": str(self.port),
                "ORCHDASH_DEMO_ROWS": DEMO_ROWS,
                "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            }
        )
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        orchdash = shutil.which("orchdash", path=str(Path(sys.executable).parent))
        command = [orchdash, "run"] if orchdash else [sys.executable, "-m", "dashboard.cli", "run"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = START_TIMEOUT_S / 0.25
        for _ in range(int(deadline)):
            if _healthy(self.url):
                return self.url
            try:
                # Doubles as the poll interval and as the check that the server did not die.
                code = self.process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"orchdash run exited with {code}:\n{self.log_tail()}")
        self.stop()
        raise RuntimeError(f"orchdash run not healthy in {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Ctrl-C to the process group (as in a terminal), then the postmaster it leaves."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _stop_postmaster(self.data_dir / "pgdata")


def _stop_postmaster(pgdata: Path) -> None:
    """Fast-stop the embedded server of our temporary data folder if still up."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return
    import psutil

    try:
        psutil.Process(pid).wait(timeout=30)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        pass


@pytest.fixture(scope="session")
def start_app_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., AppServer]]:
    """A factory of extra servers (e.g. with OIDC secrets); all are stopped at the end."""
    started: list[AppServer] = []

    def start(data_dir: Path | None = None, env: dict[str, str] | None = None) -> AppServer:
        server = AppServer(data_dir or tmp_path_factory.mktemp("orchdash-e2e"), env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in reversed(started):
        server.stop()


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
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page; dialogs, page errors and console errors fail the test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    problems: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _streamlit_probe(message):
            problems.append(f"console error: {message.text}")

    new_page.on("dialog", on_dialog)
    new_page.on("console", on_console)
    new_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield new_page
    context.close()
    assert not problems, "\n".join(problems)


def _streamlit_probe(message: ConsoleMessage) -> bool:
    """Streamlit's own 404s when a page URL (/error-rates) is opened directly.

    The frontend first tries the page's path as a base path (/error-rates/_stcore/health), then
    the root; the failed first try is logged by the browser and is no fault of the app.
    """
    url = message.location.get("url", "")
    return "status of 404" in message.text and bool(_PROBE.search(url))


def wait_for_app(page: Page, timeout_ms: float = 60_000) -> None:
    """Until Streamlit is connected and its script run has finished."""
    page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


def demo_password(email: str) -> str:
    from queries.demo import DEMO_PASSWORDS

    return DEMO_PASSWORDS[email]


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form and submit it (the page must show the form)."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def wait_signed_in(page: Page, timeout_ms: float = 60_000) -> None:
    """Until the signed-in app is drawn: the Sign out button is there and the run has finished."""
    page.get_by_role("button", name="Sign out").wait_for(timeout=timeout_ms)
    wait_for_app(page, timeout_ms)


@pytest.fixture
def signed_in_page(page: Page, app_server: str) -> Page:
    """The demo chairman signed in through the form; the Overview is drawn."""
    page.goto(app_server)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    return page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test, whether or not it says so."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
