"""Several replicas: two `orchdash run` on one PostgreSQL behind a round-robin nginx, in Chromium.

One external database (migrated and loaded by `orchdash migrate` and `orchdash demo` as its
owner) serves two replicas started with the runtime role's URL only and one ORCHDASH_SECRET_KEY.
Debian's nginx balances them round-robin, no affinity, and names the replica of every answer
(``X-Upstream``; its access log names the replica of every websocket). A session made through one
replica is honoured by the other, and so is its export link; signing out ends it in both; one
replica stopped, the other carries on with the same session; a restart keeps everyone signed in.
What does need affinity: the files of st.download_button live in the memory of the replica that
drew the page (a 404 from the other one); behind `hash $cookie_orchdash_session consistent;`
every button works. The README's "Several replicas behind a load balancer" says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import db_fixtures
import pytest
from harness import (
    CHAIRMAN,
    CSV_BUTTONS,
    PROJECT_DIR,
    AppServer,
    demo_password,
    free_port,
    sign_in,
    streamlit_probe,
    wait_for_app,
    wait_signed_in,
)
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

pytestmark = pytest.mark.browser

NGINX = "/usr/sbin/nginx"
ORCHDASH = PROJECT_DIR / ".venv" / "bin" / "orchdash"
SESSION_COOKIE = "orchdash_session"
DEMO_ROWS = "20000"
MAX_TRIES = 24  # page loads or requests until both replicas have answered


def orchdash(command: list[str], env: dict[str, str]) -> None:
    """`orchdash <command>` as an operator runs it; its output in the failure."""
    done = subprocess.run(
        [str(ORCHDASH), *command],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"orchdash {' '.join(command)}:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def app_database_url(new_database: Callable[[str], str]) -> str:
    """The runtime role's URL of a database migrated and loaded as its owner, once."""
    owner_url = new_database("orchdash_replicas")
    app_url = db_fixtures.runtime_url(owner_url)
    owner = {"ORCHDASH_ADMIN_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
    orchdash(["migrate"], owner)
    orchdash(["demo", "--yes", "--rows", DEMO_ROWS], owner)
    return app_url


def replica_env(app_database_url: str, secret_key: str) -> dict[str, str]:
    """A replica's settings: the runtime role's URL only, the shared secret key."""
    return {
        "DATABASE_URL": app_database_url,
        "ORCHDASH_SECRET_KEY": secret_key,
        "STREAMLIT_SERVER_HEADLESS": "true",
    }


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, as a service manager stops it; SIGKILL after a minute."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)


def terminate(server: AppServer) -> None:
    """A replica stopped as a service manager stops it; until it is gone."""
    assert server.process is not None
    stop_group(server.process)
    assert server.process.poll() is not None


@pytest.fixture(scope="module")
def replicas(
    app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[AppServer]]:
    """Two `orchdash run` on the one database, each with its own port and data folder."""
    env = replica_env(app_database_url, secrets.token_urlsafe(48))
    servers = [AppServer(tmp_path_factory.mktemp("replica"), env) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


NGINX_CONF = """\
{user}
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format replica '$request_method $uri $status $upstream_addr';
    access_log {dir}/access.log replica;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream orchdash {{
        {balance}
        {servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://orchdash;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # Which replica answered (the test's proof; not needed in production).
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Balancer:
    url: str
    access_log: Path

    def websocket_replicas(self) -> set[str]:
        """Replicas that held a page's websocket (logged when the connection closed)."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return {
            line.split()[-1]
            for line in lines
            if " /_stcore/stream 101 " in line and "," not in line.split()[-1]
        }


def upstream_of(server: AppServer) -> str:
    return f"127.0.0.1:{server.port}"


def last_upstream(header: str | None) -> str:
    """The replica that answered (nginx lists every one it tried: `a:1, b:2`)."""
    return (header or "").split(",")[-1].strip()


def run_nginx(folder: Path, replicas: list[AppServer], balance: str) -> subprocess.Popen[bytes]:
    """Debian's nginx in the foreground in front of the replicas, everything in ``folder``."""
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(
        NGINX_CONF.format(
            # As root, nginx would hand the workers to `nobody`, who cannot enter our folder.
            user="user root;" if os.geteuid() == 0 else "",
            dir=folder,
            port=port,
            balance=balance,
            servers="\n        ".join(f"server {upstream_of(s)};" for s in replicas),
        )
    )
    (folder / "port").write_text(str(port))
    with (folder / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        code = process.poll()
        if code is not None or time.monotonic() > deadline:
            stop_group(process)
            log = folder / "error.log"
            errors = log.read_text() if log.exists() else (folder / "nginx.out").read_text()
            raise RuntimeError(f"nginx did not start ({code}):\n{errors}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def start_balancer(
    replicas: list[AppServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Balancer]]:
    """``start_balancer(balance)``: an nginx over both replicas (``balance``: "" is round-robin,
    or e.g. ``hash ... consistent;``); all stopped at the end (SIGTERM to their groups)."""
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: apt-get install -y nginx-light")
    started: list[subprocess.Popen[bytes]] = []

    def start(balance: str) -> Balancer:
        folder = tmp_path_factory.mktemp("nginx")
        started.append(run_nginx(folder, replicas, balance))
        port = (folder / "port").read_text()
        return Balancer(f"http://127.0.0.1:{port}", folder / "access.log")

    try:
        yield start
    finally:
        for process in started:
            stop_group(process)


@pytest.fixture(scope="module")
def round_robin(start_balancer: Callable[[str], Balancer]) -> Balancer:
    """Round-robin, nothing sticky: every request may go to either replica."""
    return start_balancer("")


@pytest.fixture(scope="module")
def sticky(start_balancer: Callable[[str], Balancer]) -> Balancer:
    """Affinity by session cookie, as the README recommends."""
    return start_balancer(f"hash $cookie_{SESSION_COOKIE} consistent;")


@pytest.fixture
def both_up(replicas: list[AppServer]) -> list[AppServer]:
    """Both replicas running (an earlier test may have stopped one)."""
    for server in replicas:
        if server.process is None or server.process.poll() is not None:
            server.start()
    return replicas


MEDIA_404 = ("/media/", "Download Button source error - 404")


@pytest.fixture
def balanced_page(browser: Browser) -> Iterator[Page]:
    """The ``page`` fixture's strictness, less the 404s of Streamlit's media files: behind a
    round-robin proxy a download button's file is fetched from either replica, and only the
    one that drew the page has it (test_download_buttons_need_affinity)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        media_404 = "status of 404" in message.text and MEDIA_404[0] in where
        ignored = media_404 or MEDIA_404[1] in message.text or streamlit_probe(message)
        if message.type == "error" and not ignored:
            problems.append(f"console error: {message.text} at {where}")

    context.on("console", on_console)
    context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
    yield context.new_page()
    context.close()
    assert not problems, "\n".join(problems)


def sign_in_form(page: Page) -> None:
    """Until the sign-in form is drawn (and nothing of the signed-in app)."""
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def session_cookie(page: Page) -> str:
    [value] = [c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    return value


def get(url: str, cookie: str) -> tuple[int, str, bytes]:
    """GET with only our session cookie: status, content type, body."""
    request = urllib.request.Request(url, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def nudge(balancer: Balancer) -> None:
    """One request more through nginx, so that round-robin's next pick moves on."""
    urllib.request.urlopen(f"{balancer.url}/_stcore/health", timeout=10).close()


def test_a_session_works_on_every_replica_and_ends_on_all(
    balanced_page: Page, both_up: list[AppServer], round_robin: Balancer
) -> None:
    page, replicas, balancer = balanced_page, both_up, round_robin
    both = {upstream_of(s) for s in replicas}
    documents: list[str] = []

    def on_response(response: Response) -> None:
        if response.request.resource_type == "document":
            documents.append(last_upstream(response.headers.get("x-upstream")))

    page.on("response", on_response)
    sign_in_through(page, balancer)

    # Reloads until each replica has drawn the page and held its websocket: signed in each time.
    for _ in range(MAX_TRIES):
        if set(documents) == both and balancer.websocket_replicas() == both:
            break
        before = documents[-1]
        page.reload()
        wait_signed_in(page)
        expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
        if documents[-1] == before:
            nudge(balancer)
    assert set(documents) == both, documents
    assert balancer.websocket_replicas() == both

    # The export link made by one replica streams from either, through nginx and directly.
    page.goto(balancer.url + "/export")
    wait_signed_in(page)
    href = str(page.get_by_role("link", name="Download CSV").get_attribute("href"))
    served: set[str] = set()
    for _ in range(MAX_TRIES):
        response = page.request.get(balancer.url + href)
        assert response.status == 200, response.text()
        assert response.headers["content-type"].startswith("text/csv")
        assert response.body().count(b"\n") > 1
        served.add(last_upstream(response.headers.get("x-upstream")))
        if served == both:
            break
    assert served == both
    cookie = session_cookie(page)
    for server in replicas:
        status, kind, body = get(server.url + href, cookie)
        assert status == 200 and kind.startswith("text/csv") and body.count(b"\n") > 1

    # Sign-out through nginx ends the session in the database: both replicas refuse it.
    page.get_by_role("button", name="Sign out").click()
    sign_in_form(page)
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    page.reload()
    sign_in_form(page)
    for server in replicas:
        status, _, body = get(server.url + href, cookie)
        assert status == 403 and b"no longer valid" in body, (server.url, status, body)
    # The old cookie replayed in a browser, on each replica's own port: the sign-in form.
    replay = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        for server in replicas:
            replay.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": server.url}])
            other = replay.new_page()
            other.goto(server.url)
            sign_in_form(other)
            expect(other.get_by_text("Your session has ended")).to_be_visible()
    finally:
        replay.close()

    # Signed in again, one replica stopped: the other carries the page and the session.
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    stopped, remaining = replicas[1], replicas[0]
    terminate(stopped)
    page.reload()
    wait_signed_in(page)
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    assert documents[-1] == upstream_of(remaining)
    page.reload()
    wait_signed_in(page)
    assert documents[-1] == upstream_of(remaining)


def open_collecting_media(page: Page, url: str) -> dict[str, tuple[int, str]]:
    """Open ``url`` (signed in); the download buttons' files the page fetched once drawn:
    their paths, each with its status and the replica that answered."""
    media: dict[str, tuple[int, str]] = {}

    def on_response(response: Response) -> None:
        path = urlsplit(response.url).path
        if path.startswith("/media/") and path.endswith(".csv"):
            media[path] = (response.status, last_upstream(response.headers.get("x-upstream")))

    # Away first: a file the last page was still fetching must not be counted as this page's.
    page.goto("about:blank")
    page.on("response", on_response)
    page.goto(url)
    wait_signed_in(page)
    buttons = page.locator(CSV_BUTTONS)
    # A loaded machine may finish the run before the last chart and its buttons are drawn.
    expect(buttons.first).to_be_visible(timeout=60_000)
    deadline = time.monotonic() + 30
    while len(media) < buttons.count() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.remove_listener("response", on_response)
    assert media and len(media) == buttons.count(), media
    return media


def period(days: int) -> str:
    """The Overview of the last ``days`` days: a view no other page of the module draws."""
    today = datetime.now(UTC).date()
    return f"/?from={today - timedelta(days=days)}&to={today}"


def sign_in_through(page: Page, balancer: Balancer) -> None:
    page.goto(balancer.url)
    sign_in_form(page)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)


def test_download_buttons_need_affinity(
    balanced_page: Page, both_up: list[AppServer], round_robin: Balancer
) -> None:
    """A download button's file is in the memory of the replica that drew the page, only.

    Streamlit keeps st.download_button's data in its process; the page fetches it by URL (a hash
    of the content). A period no other page shows makes the files this page's own.
    """
    page = balanced_page
    sign_in_through(page, round_robin)
    media = open_collecting_media(page, round_robin.url + period(days=20))
    cookie = session_cookie(page)
    holders = set()
    for path in media:
        found = {upstream_of(s): get(s.url + path, cookie)[0] for s in both_up}
        assert sorted(found.values()) == [200, 404], (path, found)
        holders |= {replica for replica, status in found.items() if status == 200}
    assert len(holders) == 1  # the replica of the page's websocket
    # Through the round-robin proxy, each fetch that went to the other replica got a 404.
    for status, replica in media.values():
        assert status == (200 if replica in holders else 404), media


def test_with_affinity_every_download_button_works(
    page: Page, both_up: list[AppServer], sticky: Balancer
) -> None:
    """Behind `hash $cookie_orchdash_session consistent;` a person's requests all go to one
    replica: every file is found (the page fixture fails on any 404 in the console)."""
    sign_in_through(page, sticky)
    media = open_collecting_media(page, sticky.url + period(days=21))
    assert {status for status, _ in media.values()} == {200}
    assert len({replica for _, replica in media.values()}) == 1
    buttons = page.locator(CSV_BUTTONS)
    for index in range(buttons.count()):
        with page.expect_download() as info:
            buttons.nth(index).get_by_role("button", name="Download CSV").click()
        assert Path(info.value.path()).read_bytes().count(b"\n") >= 1


def test_a_restart_keeps_the_session(page: Page, both_up: list[AppServer]) -> None:
    server = both_up[0]
    page.goto(server.url)
    sign_in_form(page)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    # Closed first: an open page would log each of its reconnection attempts as an error.
    page.goto("about:blank")
    terminate(server)
    server.start()
    page.goto(server.url)
    wait_signed_in(page)
    expect(page.get_by_text(f"Signed in as {CHAIRMAN}")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
