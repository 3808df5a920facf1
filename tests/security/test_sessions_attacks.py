"""Attacks on sign-in's routes and sessions, through Starlette's TestClient on the metrics world
(tests/metrics_world.py; the routes' helpers are those of tests/test_routes.py).

- A cross-site form (or link) that signs a person out, or signs them into the attacker's account
  with the attacker's fresh ticket (login CSRF): refused unless the request comes from a page of
  this site; the routes are POST only.
- A flood of junk export links from one client: no audit row, no log line per request, 429 after
  a few refusals with no database lookup at all, and the dashboard's pool still serves others.
- Replicas: two Routes and session stores over one database (two engines, as two processes
  would have) accept each other's sessions, links and sign-outs, and expire them alike.

The same attacks in a real Chromium are in tests/e2e/test_signin.py.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import metrics_world as mw
import pytest
import test_routes as routes_tests
from sqlalchemy import Engine, event
from starlette.testclient import TestClient
from test_routes import (
    IDLE,
    SAME_ORIGIN,
    age,
    app_client,
    as_browser_of,
    audit_rows,
    export_link,
    make_store,
    post,
    rows_of,
    set_cookie_headers,
    signed_in,
    world_filters,
)

from dashboard.web import sessions
from dashboard.web.routes import MAX_REFUSALS_PER_MINUTE, Refusals, Routes
from dashboard.web.sessions import SessionStore
from queries import engines

store = routes_tests.store
client = routes_tests.client
world_owner = routes_tests.world_owner

STATE_CHANGING = ("/auth/session", "/auth/sso", "/auth/signout")
# What a browser sends with a form or fetch of another site (or what a script sends).
FOREIGN = {
    "no origin, no fetch metadata": {},
    "another site": {"origin": "http://evil.example"},
    "another port of this host": {"origin": "http://testserver:8080"},
    "a longer host name": {"origin": "http://testserver.evil.example"},
    "an opaque origin (sandboxed frame, data: URL)": {"origin": "null"},
    "cross-site fetch metadata": {"sec-fetch-site": "cross-site"},
    "same-site but not same-origin": {"sec-fetch-site": "same-site"},
    "a foreign origin that claims same-origin": {
        "origin": "http://evil.example",
        "sec-fetch-site": "same-origin",
    },
}


# ------------------------------------------------------------------ cross-site forms


@pytest.mark.parametrize("headers", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize("path", STATE_CHANGING)
def test_a_cross_site_post_changes_nothing(
    client: TestClient,
    store: SessionStore,
    world: mw.World,
    path: str,
    headers: dict[str, str],
) -> None:
    victim = signed_in(store, world, "multi")
    attackers_ticket = store.issue_ticket(world.users["hostile"], "hostile@x.test")
    as_browser_of(client, victim)
    response = client.post(
        path, data={"ticket": attackers_ticket, "next": "/export"}, headers=headers
    )
    assert response.status_code == 403
    assert not set_cookie_headers(response)
    # The victim is still signed in as themself, and the attacker's ticket was never spent.
    session = store.get(victim.session_id)
    assert session is not None and session.user_id == world.users["multi"]
    spent = store.redeem_ticket(attackers_ticket)
    assert spent is not None and spent.user_id == world.users["hostile"]


@pytest.mark.parametrize("path", STATE_CHANGING)
def test_a_link_to_a_state_changing_route_is_not_allowed(
    client: TestClient, store: SessionStore, world: mw.World, path: str
) -> None:
    """What a link, an image or a top-level navigation from another site would send."""
    victim = signed_in(store, world, "multi")
    attackers_ticket = store.issue_ticket(world.users["hostile"], "hostile@x.test")
    as_browser_of(client, victim)
    response = client.get(path, params={"ticket": attackers_ticket}, headers=SAME_ORIGIN)
    assert response.status_code == 405
    assert not set_cookie_headers(response)
    assert store.get(victim.session_id) is not None
    assert store.redeem_ticket(attackers_ticket) is not None


def test_a_same_origin_form_without_an_origin_header_is_accepted(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    """Fetch metadata alone is enough (a browser that omits Origin on a same-origin POST)."""
    ticket = store.issue_ticket(world.users["single"], "single@x.test")
    response = post(
        client, "/auth/session", {"ticket": ticket}, **{"sec-fetch-site": "same-origin"}
    )
    assert response.status_code == 303
    assert sessions.COOKIE_NAME in set_cookie_headers(response)


# ------------------------------------------------------------------ a flood of junk links


class Counted:
    """The statements and pool checkouts of an engine, and those of export_link_open."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.link_lookups = 0
        self.checkouts = 0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "checkout", self._checkout)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        with self._lock:
            self.statements += 1
            self.link_lookups += "export_link_open" in statement

    def _checkout(self, *args: Any) -> None:
        with self._lock:
            self.checkouts += 1

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return self.statements, self.link_lookups, self.checkouts


@pytest.fixture
def small_pool(world_app_url: str) -> Iterator[Engine]:
    """The dashboard's engine with a pool of two and no overflow: easy to exhaust."""
    engine = engines.make_engine(world_app_url, pool_size=2, max_overflow=0, pool_timeout=3)
    yield engine
    engine.dispose()


def junk_links(n: int) -> list[str]:
    """Plausible random links (43 URL-safe characters, as ours are) and plain garbage."""
    garbage = [
        "' OR 1=1 --",
        "../../etc/passwd",
        "x" * 5000,
        "é" * 43,
        "%00" * 10,
        "eyJzaWQiOiJ4In0.ZXhwb3J0.c2lnbmF0dXJl",
        "line\nbreak: forged log line",
        "",
    ]
    return [
        secrets.token_urlsafe(32) if i % 2 else garbage[i // 2 % len(garbage)] for i in range(n)
    ]


def test_a_flood_of_junk_links_is_cut_off_without_touching_the_database(
    small_pool: Engine,
    world: mw.World,
    world_owner: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    routes = Routes(
        store=make_store(small_pool),
        engine=lambda: small_pool,
        refusals=Refusals(clock=lambda: now[0]),
    )
    attacker = app_client(routes, client=("203.0.113.9", 4444))
    victim = app_client(routes, client=("198.51.100.7", 5555))
    store = make_store(small_pool)
    # The attacker has an account of their own: a valid cookie, so plausible links get looked up.
    own = signed_in(store, world, "hostile")
    attackers_cookie = sessions.cookie_value(own.session_id)
    forged_cookie = sessions.cookie_value(secrets.token_urlsafe(32))
    me = signed_in(store, world, "single")
    my_link = export_link(small_pool, me, world_filters(world))
    as_browser_of(victim, me)
    links = junk_links(500)
    before = audit_rows(world_owner)
    counted = Counted(small_pool)

    def attempt(i: int) -> int:
        cookie = (attackers_cookie, forged_cookie, "")[i % 3]
        headers = {"cookie": f"{sessions.COOKIE_NAME}={cookie}"} if cookie else {}
        response = attacker.get("/export.csv", params={"link": links[i]}, headers=headers)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "60"
        return int(response.status_code)

    workers = 4
    with caplog.at_level(logging.WARNING, logger="dashboard.web.routes"):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            first = list(pool.map(attempt, range(250)))
        statements, lookups, checkouts = counted.snapshot()
        # Once cut off, the attacker costs nothing: while the flood goes on, the only lookup
        # is the victim's own download, which streams its rows.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rest = pool.map(attempt, range(250, 500))
            mine = victim.get(my_link)
            second = list(rest)
        assert mine.status_code == 200 and len(rows_of(mine)) > 0
        assert counted.snapshot()[1] == lookups + 1
        assert victim.get(my_link).status_code == 200  # and after the flood

    statuses = first + second
    assert set(statuses) == {403, 429}
    refused = statuses.count(403)
    assert MAX_REFUSALS_PER_MINUTE <= refused <= MAX_REFUSALS_PER_MINUTE + workers
    assert statuses[-200:] == [429] * 200
    # Only the few refusals before the cut-off reached the database, two statements each
    # (its settings and the lookup), on as many checkouts; no audit row but the victim's two.
    assert lookups <= refused and statements <= 2 * refused and checkouts <= refused
    assert audit_rows(world_owner) == before + 2
    lines = [r.getMessage() for r in caplog.records if "exports refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert not any(junk in line for line in lines for junk in links if junk)

    # A minute later the next refusal reports the whole flood in one line.
    now[0] += 61
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dashboard.web.routes"):
        assert attacker.get("/export.csv", params={"link": "junk"}).status_code == 403
    [line] = [r.getMessage() for r in caplog.records if "exports refused" in r.getMessage()]
    reported = sum(map(int, re.findall(r"(?:: |, )(\d+) ", line)))
    assert reported == len(links)  # the 499 after the first line, and this one


# ------------------------------------------------------------------ replicas


def routes_over(engine: Engine, store: SessionStore) -> Routes:
    return Routes(store=store, engine=lambda: engine)


@pytest.fixture
def replicas(
    world_app_url: str,
) -> Iterator[tuple[TestClient, TestClient, SessionStore, SessionStore]]:
    """Two replicas over one database: each its own engine, session store and routes."""
    made = [engines.make_engine(world_app_url, pool_size=1) for _ in range(2)]
    stores = [make_store(engine) for engine in made]
    clients = [app_client(routes_over(e, s)) for e, s in zip(made, stores, strict=True)]
    yield clients[0], clients[1], stores[0], stores[1]
    for engine in made:
        engine.dispose()


def test_a_session_made_through_one_replica_is_honoured_and_ended_by_the_other(
    replicas: tuple[TestClient, TestClient, SessionStore, SessionStore],
    world: mw.World,
    world_app: Engine,
) -> None:
    a, b, store_a, store_b = replicas
    # Signed in on a's page, the ticket redeemed by b, the export link made by a, downloaded by b.
    ticket = store_a.issue_ticket(world.users["multi"], "multi@x.test")
    response = post(b, "/auth/session", {"ticket": ticket})
    session_id = sessions.session_id_from_cookie(response.cookies[sessions.COOKIE_NAME])
    assert session_id is not None
    user = store_a.get(session_id)
    assert user is not None and user.user_id == world.users["multi"]
    link = export_link(world_app, user, world_filters(world))
    assert as_browser_of(b, user).get(link).status_code == 200
    # Signed out through b: a knows at once, for the session and for its link.
    assert post(b, "/auth/signout").status_code == 303
    assert store_a.get(session_id) is None
    assert as_browser_of(a, user).get(link).status_code == 403
    assert post(a, "/auth/session", {"ticket": ticket}).cookies.get(sessions.COOKIE_NAME) is None


@pytest.mark.parametrize("how", ["idle", "max"])
def test_a_session_expires_alike_in_every_replica(
    replicas: tuple[TestClient, TestClient, SessionStore, SessionStore],
    world: mw.World,
    world_app: Engine,
    world_owner: Engine,
    how: str,
) -> None:
    a, b, store_a, store_b = replicas
    user = signed_in(store_a, world, "single")
    link = export_link(world_app, user, world_filters(world))
    assert store_b.get(user.session_id) is not None
    # Idle: no page run for IDLE seconds; max: signed in 4 * IDLE ago, though in use just now.
    age(world_owner, how, user.session_id, IDLE if how == "idle" else 4 * IDLE)
    for replica, s in ((a, store_a), (b, store_b)):
        assert as_browser_of(replica, user).get(link).status_code == 403
        assert s.get(user.session_id) is None
