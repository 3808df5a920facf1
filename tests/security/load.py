"""Load and isolation together: concurrent tabs of A, B and Z with random filters against one
real server, every answer checked against the user's scope, the server's memory sampled.

Each of ``tabs`` clients loops until the time is up: it opens a tab (a new Streamlit session) as
the next of A, B, Z, with a random link (companies, ventures and stages of every tenant and of
none, periods, grains), and visits two random pages in it. Every page, chart, option list,
download file and total that comes back goes through :func:`security.elements.owners`.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import psutil

from dashboard.ui import data, pages
from security import world as w
from security.elements import owners
from security.wsclient import Tab, run_async, sign_in

ROTATION = ("A", "B", "Z")
PATHS = {p.path: p.title for p in pages.PAGES}


@dataclass
class Report:
    seconds: float
    tabs: int
    answers: int = 0
    by_user: dict[str, int] = field(default_factory=dict)
    outside_scope: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)

    def window(self, start: float, end: float) -> float:
        """Median RSS (MB) of the samples taken between ``start`` and ``end`` seconds."""
        values = [mb for t, mb in self.rss_mb if start <= t <= end]
        return statistics.median(values) if values else float("nan")

    def summary(self) -> str:
        mbs = [mb for _, mb in self.rss_mb]
        third = self.seconds / 3
        return (
            f"{self.tabs} tabs for {self.seconds:.0f} s: {self.answers} pages checked "
            f"({self.answers / self.seconds:.1f}/s; by user {self.by_user}), "
            f"{len(self.outside_scope)} outside the scope, {len(self.errors)} errors; "
            f"server RSS start {mbs[0]:.0f} MB, min {min(mbs):.0f}, max {max(mbs):.0f}, "
            f"end {mbs[-1]:.0f}; median of the 2nd third {self.window(third, 2 * third):.0f} MB, "
            f"of the last third {self.window(2 * third, self.seconds):.0f} MB"
            + "".join(f"\n  error: {e}" for e in self.errors)
            + "".join(f"\n  outside the scope: {e}" for e in self.outside_scope)
        )


def random_query(rng: random.Random, world: w.World) -> dict[str, Any]:
    """A link with random filters, ids of every tenant, of nobody and of nothing included."""
    today = date.today()
    query: dict[str, Any] = {}
    companies = [*world.companies.values(), str(uuid.uuid4())]
    if rng.random() < 0.5:
        query["company"] = rng.sample(companies, rng.randint(1, 2))
    if rng.random() < 0.3:
        query["venture"] = rng.sample([*world.ventures, str(uuid.uuid4())], rng.randint(1, 3))
    if rng.random() < 0.4:
        query["stage"] = [str(s) for s in rng.sample(range(1, 41), rng.randint(1, 5))]
    if rng.random() < 0.6:
        start = today - timedelta(days=rng.randint(0, w.DAYS + 20))
        query["from"] = start.isoformat()
        query["to"] = (start + timedelta(days=rng.randint(0, 60))).isoformat()
    query["grain"] = rng.choice(["day", "week", "month"])
    return query


def streamlit_process(server_pid: int) -> psutil.Process:
    """The Streamlit process that `orchdash run` started (it serves every page)."""
    for child in psutil.Process(server_pid).children(recursive=True):
        if any("streamlit" in part for part in child.cmdline()):
            return child
    raise LookupError("no streamlit process under the server")


def _sample(process: psutil.Process, report: Report, started: float, stop: threading.Event) -> None:
    while True:
        report.rss_mb.append((time.monotonic() - started, process.memory_info().rss / 2**20))
        if stop.wait(1.0):
            return


async def _tab(
    base_url: str,
    world: w.World,
    scopes: dict[str, set[str]],
    cookies: dict[str, str],
    index: int,
    deadline: float,
    report: Report,
) -> None:
    rng = random.Random(index)
    turn = index
    # A new connection per file: a kept-alive one can be closed by the server just as it is
    # reused, a client-side race that browsers paper over by retrying.
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=no_keep_alive) as client:
        while time.monotonic() < deadline:
            user = ROTATION[turn % len(ROTATION)]
            turn += 1
            query = random_query(rng, world)
            typed = {*query.get("company", []), *query.get("venture", [])}
            async with Tab(base_url, cookies[user]) as tab:
                for path in rng.sample(list(PATHS), 2):
                    try:
                        shot = await tab.snapshot(await tab.run(path, query), client)
                    except Exception as exc:  # a refused connection, a timeout: an error
                        report.errors.append(f"{user} {path}: {exc!r}")
                        continue
                    report.answers += 1
                    report.by_user[user] = report.by_user.get(user, 0) + 1
                    where = f"{user} /{path}?{query}"
                    if shot.exceptions or shot.alerts("error") or shot.titles != [PATHS[path]]:
                        report.errors.append(f"{where}: {shot.exceptions or shot.alerts('error')}")
                    found = owners(shot, world)
                    if not found.companies <= scopes[user] or not found.unknown_ids <= typed:
                        report.outside_scope.append(f"{where}: {found.companies}")
                    if not scopes[user] and shot.alerts("info") != [data.NO_ACCESS]:
                        report.errors.append(f"{where}: no explained empty state")


async def _load(base_url: str, world: w.World, scopes: dict[str, set[str]], report: Report) -> None:
    cookies = {}
    for user in ROTATION:
        cookie = await sign_in(base_url, w.email(user), w.password(user))
        assert cookie, f"{user} could not sign in"
        cookies[user] = cookie
    deadline = time.monotonic() + report.seconds
    await asyncio.gather(
        *(_tab(base_url, world, scopes, cookies, i, deadline, report) for i in range(report.tabs))
    )


def run(
    base_url: str, server_pid: int, world: w.World, scopes: dict[str, set[str]], seconds: float,
    tabs: int,
) -> Report:  # fmt: skip
    report = Report(seconds=seconds, tabs=tabs)
    stop = threading.Event()
    sampler = threading.Thread(
        target=_sample,
        args=(streamlit_process(server_pid), report, time.monotonic(), stop),
        daemon=True,
    )
    sampler.start()
    try:
        run_async(_load(base_url, world, scopes, report))
    finally:
        stop.set()
        sampler.join()
    return report
