"""The HTTP routes beside the app, through Starlette's TestClient: session cookie, SSO hand-off,
sign-out, and the streamed export (on the metrics world of tests/metrics_world.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.cookies import SimpleCookie
from typing import Any, TypeVar

import metrics_world as mw
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.web import sessions, tokens
from dashboard.web.routes import EXPORT_REFUSED, SSO_PARAM, Routes, safe_next
from dashboard.web.sessions import SessionStore, SignedIn
from dashboard.web.streaming import ThreadedByteStream
from queries import Filters, admin

T = TypeVar("T")

IDLE = 1800.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SessionStore:
    return SessionStore(idle_seconds=IDLE, max_seconds=4 * IDLE, clock=clock)


@pytest.fixture
def client(store: SessionStore, world_app: Engine) -> TestClient:
    """The routes over the metrics world (tests/metrics_world.py) as the app's runtime role."""
    app = Starlette(routes=Routes(store=store, engine=lambda: world_app).routes())
    return TestClient(app, follow_redirects=False)


def set_cookie_headers(response: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the raw header, flags included)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header
    return found


def flags(header: str) -> dict[str, str]:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    morsel = next(iter(cookie.values()))
    lower = header.lower()
    return {
        "httponly": str("httponly" in lower),
        "secure": str("secure" in lower),
        "samesite": morsel["samesite"].lower(),
        "path": morsel["path"],
        "max-age": str(morsel["max-age"]),
    }


# ------------------------------------------------------------------ /auth/session


def test_ticket_becomes_an_http_only_same_site_cookie(
    client: TestClient, store: SessionStore
) -> None:
    ticket = store.issue_ticket("u1", "u1@x.test")
    response = client.get("/auth/session", params={"ticket": ticket, "next": "/error-rates?a=1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/error-rates?a=1"
    assert response.headers["cache-control"] == "no-store"
    header = set_cookie_headers(response)[sessions.COOKIE_NAME]
    assert flags(header) == {
        "httponly": "True",
        "secure": "False",
        "samesite": "lax",
        "path": "/",
        "max-age": str(int(4 * IDLE)),
    }
    session_id = sessions.session_id_from_cookie(response.cookies[sessions.COOKIE_NAME])
    assert session_id is not None
    session = store.get(session_id)
    assert session is not None and session.user_id == "u1"


def test_cookie_is_secure_over_https(store: SessionStore, client: TestClient) -> None:
    https = TestClient(client.app, base_url="https://dashboard.example", follow_redirects=False)
    proxied = client
    for each, headers in ((https, {}), (proxied, {"x-forwarded-proto": "https"})):
        ticket = store.issue_ticket("u1", "u1@x.test")
        response = each.get("/auth/session", params={"ticket": ticket}, headers=headers)
        assert flags(set_cookie_headers(response)[sessions.COOKIE_NAME])["secure"] == "True"


def test_spent_expired_or_made_up_tickets_set_no_cookie(
    client: TestClient, store: SessionStore, clock: Clock
) -> None:
    ticket = store.issue_ticket("u1", "u1@x.test")
    assert client.get("/auth/session", params={"ticket": ticket}).status_code == 303
    late = store.issue_ticket("u1", "u1@x.test")
    clock.now += sessions.TICKET_SECONDS
    for bad in (ticket, late, "made-up", ""):
        response = client.get("/auth/session", params={"ticket": bad})
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert sessions.COOKIE_NAME not in set_cookie_headers(response)


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
     "evil", "/\r\nSet-Cookie: x=1", ""],
)  # fmt: skip
def test_next_never_leaves_the_site(client: TestClient, store: SessionStore, target: str) -> None:
    assert safe_next(target) == "/"
    ticket = store.issue_ticket("u1", "u1@x.test")
    response = client.get("/auth/session", params={"ticket": ticket, "next": target})
    assert response.headers["location"] == "/"


def test_sso_remembers_where_to_go_and_hands_over_to_st_login(
    client: TestClient, store: SessionStore
) -> None:
    old = store.create("u1", "u1@x.test")
    client.cookies.set(sessions.COOKIE_NAME, sessions.cookie_value(old.session_id))
    response = client.get("/auth/sso", params={"next": "/export?grain=week"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/?{SSO_PARAM}=1"
    cookies = set_cookie_headers(response)
    assert flags(cookies[sessions.NEXT_COOKIE_NAME])["httponly"] == "True"
    assert "Max-Age=0" in cookies[sessions.COOKIE_NAME]
    assert store.get(old.session_id) is None
    # Back from the provider, the app redeems a ticket without `next`: the cookie says where.
    client.cookies.clear()
    client.cookies.set(sessions.NEXT_COOKIE_NAME, response.cookies[sessions.NEXT_COOKIE_NAME])
    client.cookies.set("_streamlit_user", "identity")
    client.cookies.set("_streamlit_user_tokens_1", "chunk")
    ticket = store.issue_ticket("u1", "u1@x.test")
    back = client.get("/auth/session", params={"ticket": ticket})
    assert back.headers["location"] == "/export?grain=week"
    cleared = set_cookie_headers(back)
    for name in (sessions.NEXT_COOKIE_NAME, "_streamlit_user", "_streamlit_user_tokens_1"):
        assert "Max-Age=0" in cleared[name], name


# ------------------------------------------------------------------ /auth/signout


def test_sign_out_ends_the_session_everywhere_and_clears_cookies(
    client: TestClient, store: SessionStore
) -> None:
    session = store.create("u1", "u1@x.test")
    cookie = sessions.cookie_value(session.session_id)
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    client.cookies.set("_streamlit_user", "identity")
    response = client.get("/auth/signout")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cleared = set_cookie_headers(response)
    for name in (sessions.COOKIE_NAME, "_streamlit_user"):
        assert "Max-Age=0" in cleared[name]
    assert store.get(session.session_id) is None
    # The old cookie, replayed, opens nothing: a new sign-in is needed.
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    assert store.get(session.session_id) is None


# ------------------------------------------------------------------ /export.csv


def world_filters(world: mw.World, **changes: Any) -> Filters:
    values: dict[str, Any] = {"start": mw.FIRST_DAY, "end": mw.LAST_DAY, "tz": "UTC"}
    return Filters(**(values | changes))


def signed_in(store: SessionStore, world: mw.World, label: str) -> SignedIn:
    return store.create(world.users[label], f"{label}@x.test").signed_in()


def export(client: TestClient, user: SignedIn, f: Filters) -> Any:
    return client.get(tokens.export_url(user, f))


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


@pytest.mark.parametrize("label", ["multi", "single", "hostile"])
def test_export_streams_exactly_the_users_rows(
    client: TestClient, store: SessionStore, world: mw.World, label: str
) -> None:
    user = signed_in(store, world, label)
    f = world_filters(world)
    response = export(client, user, f)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        rf'attachment; filename="orchestration-metrics_{f.start}_{f.end}_\d{{8}}T\d{{6}}Z\.csv"',
        disposition,
    )
    expected = mw.selected(world, user.user_id, f.start, f.end, f.tz)
    rows = rows_of(response)
    assert len(expected) > 0
    assert sorted(r["metric_id"] for r in rows) == sorted(map(str, expected["metric_id"]))
    assert {r["company_id"] for r in rows} <= world.active(user.user_id)


def test_export_of_other_companies_is_empty_not_wider(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    user = signed_in(store, world, "single")
    outside = world_filters(world, company_ids=(world.companies["acme"],))
    rows = rows_of(export(client, user, outside))
    assert rows == []


def test_export_filters_apply(client: TestClient, store: SessionStore, world: mw.World) -> None:
    user = signed_in(store, world, "multi")
    f = world_filters(world, start=date(2026, 1, 1), end=date(2026, 1, 31), stages=(1, 2, 3))
    expected = mw.selected(world, user.user_id, f.start, f.end, f.tz, stages=f.stages)
    rows = rows_of(export(client, user, f))
    assert len(rows) == len(expected) > 0
    assert {int(r["stage_id"]) for r in rows} <= {1, 2, 3}


def test_export_refused_without_a_live_session_of_that_user(
    client: TestClient, store: SessionStore, world: mw.World, clock: Clock
) -> None:
    f = world_filters(world)
    ended = signed_in(store, world, "multi")
    store.end(ended.session_id)
    someone_else = signed_in(store, world, "single")
    borrowed = SignedIn(world.users["multi"], "multi@x.test", someone_else.session_id)
    idle = signed_in(store, world, "multi")
    idle_url = tokens.export_url(idle, f)
    clock.now += IDLE
    for url in (
        tokens.export_url(ended, f),
        tokens.export_url(borrowed, f),
        idle_url,
        "/export.csv?token=garbage",
        "/export.csv",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.text == EXPORT_REFUSED
        assert "csv" not in response.headers["content-type"]


def test_export_refused_for_a_deleted_user(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    owner = create_engine(world.url, poolclass=NullPool)
    user_id = admin.add_user(owner, "leaving@x.test", "password-of-leaver")
    session = store.create(user_id, "leaving@x.test")
    with owner.begin() as conn:
        conn.execute(text("DELETE FROM auth.users WHERE id = CAST(:id AS uuid)"), {"id": user_id})
    owner.dispose()
    response = export(client, session.signed_in(), world_filters(world))
    assert response.status_code == 403
    assert store.get(session.session_id) is None


def test_export_uses_the_current_scope_not_the_one_at_link_time(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    user = signed_in(store, world, "revocable")
    f = world_filters(world)
    url = tokens.export_url(user, f)
    owner = create_engine(world.url, poolclass=NullPool)
    try:
        with owner.begin() as conn:
            conn.execute(
                text("UPDATE public.user_company_access SET is_active = false WHERE user_id = :u"),
                {"u": user.user_id},
            )
        assert rows_of(client.get(url)) == []
    finally:
        with owner.begin() as conn:
            conn.execute(
                text("UPDATE public.user_company_access SET is_active = true WHERE user_id = :u"),
                {"u": user.user_id},
            )
        owner.dispose()
    assert len(rows_of(client.get(url))) > 0


# ------------------------------------------------------------------ the streaming bridge


def test_stream_holds_a_bounded_number_of_chunks() -> None:
    """However far the writer could run ahead, it waits once max_chunks are queued."""
    chunk, chunks, queued = 1000, 100, 3
    written = [0]

    def produce(out: Any) -> None:
        for _ in range(chunks):
            out.write(b"x" * chunk)
            written[0] += chunk

    async def read_slowly() -> tuple[int, int]:
        stream = ThreadedByteStream(produce, chunk_size=chunk, max_chunks=queued)
        await stream.start()
        read, ahead = 0, 0
        async for data in stream:
            read += len(data)
            ahead = max(ahead, written[0] - read)
            await asyncio.sleep(0)  # let the writer run as far as it can
        return read, ahead

    read, ahead = run_coroutine(read_slowly())
    assert read == chunk * chunks
    # Queued chunks, plus the one the writer is handing over, plus the one it is filling.
    assert ahead <= (queued + 2) * chunk


def test_stream_reports_an_early_failure_and_stops_when_the_reader_goes() -> None:
    stopped = threading.Event()

    def fail(out: Any) -> None:
        raise RuntimeError("database down")

    def endless(out: Any) -> None:
        try:
            while True:
                out.write(b"y" * 100)
        finally:
            stopped.set()

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="database down"):
            await ThreadedByteStream(fail).start()
        stream = ThreadedByteStream(endless, chunk_size=100, max_chunks=2)
        await stream.start()
        iterator = aiter(stream)
        await anext(iterator)
        await iterator.aclose()  # type: ignore[attr-defined]  # the client went away

    run_coroutine(scenario())
    assert stopped.wait(timeout=10)


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: the browser tests' session-scoped Playwright keeps an
    event loop running in the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
