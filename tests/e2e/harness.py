"""The browser tests' harness: the app server process, and waiting on Streamlit's own state.

``AppServer`` runs ``orchdash run`` (embedded PostgreSQL in its data folder, migrations, demo data,
``streamlit run dashboard/server.py``) on a free port. ``wait_for_app`` waits until Streamlit's
root element reports a connected session whose script is not running; nothing here sleeps.
Test modules import from here (``from harness import ...``), not from conftest.py, whose module
name is shared with tests/conftest.py.
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
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page

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
# A chart's or table's `Download CSV` (not the Overview's and Venture health's `Download PDF`).
CSV_BUTTONS = "[data-testid='stDownloadButton']:has-text('Download CSV')"
# The same in a page's own JavaScript, which knows no :has-text.
CSV_BUTTONS_JS = """[...document.querySelectorAll("[data-testid='stDownloadButton']")]
    .filter(b => b.innerText.includes("Download CSV"))"""
_PROBE = re.compile(r"/[^/]+/_stcore/(health|host-config)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class AppServer:
    """An ``orchdash run`` process in its own process group, with its log and data folder."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        project: Path = PROJECT_DIR,
    ) -> None:
        """``project``: the checkout whose code runs (another commit's, for a comparison)."""
        self.data_dir = data_dir
        self.project = project
        self.port = port or free_port()
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
        if project != PROJECT_DIR:
            # The installed `orchdash` is this checkout's (editable): run the other's modules.
            self.env["PYTHONPATH"] = str(project)
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        orchdash = shutil.which("orchdash", path=str(Path(sys.executable).parent))
        if orchdash and self.project == PROJECT_DIR:
            command = [orchdash, "run"]
        else:
            command = [sys.executable, "-m", "dashboard.cli", "run"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.project,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = START_TIMEOUT_S / 0.25
        for _ in range(int(deadline)):
            if healthy(self.url):
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
        """Ctrl-C to the process group, as in a terminal (the database is the factory's)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def stop_postmaster(pgdata: Path) -> None:
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


def streamlit_probe(message: ConsoleMessage) -> bool:
    """Streamlit's own 404s when a page URL (/error-rates) is opened directly.

    The frontend first tries the page's path as a base path (/error-rates/_stcore/health), then
    the root; the failed first try is logged by the browser and is no fault of the app.
    """
    url = message.location.get("url", "")
    return "status of 404" in message.text and bool(_PROBE.search(url))


# Streamlit says a run has finished before React has drawn all of it: an element whose code is
# still loading shows a skeleton, an element of the last run not yet replaced is marked stale.
# RUN_IN_PLACE: the run's elements all in place; APP_DRAWN: and every component's code loaded.
RUN_IN_PLACE = f"""() => document.querySelector("{APP_IDLE}") !== null
    && document.querySelector("[data-stale='true']") === null"""
APP_DRAWN = f"""() => ({RUN_IN_PLACE})()
    && document.querySelector("[data-testid='stSkeleton']") === null"""


def wait_for_app(page: Page, timeout_ms: float = 60_000) -> None:
    """Until Streamlit is connected, its script run has finished and all of it is drawn."""
    page.wait_for_function(APP_DRAWN, timeout=timeout_ms)


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
