"""The HTTP routes beside the app, through Starlette's TestClient: session cookie, SSO hand-off,
sign-out, and the streamed export (on the metrics world of tests/metrics_world.py).

Sessions, tickets and export links live in the world's database (migration f06); time moves by
updating their rows as the owner (:func:`age`), since the database's clock is the only one.
The attacks on these routes (cross-site forms, junk floods, replicas) are in
tests/security/test_sessions_attacks.py.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.cookies import SimpleCookie
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

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
# What a browser sends with a form of this site's own pages (TestClient's Host is "testserver").
SAME_ORIGIN = {"origin": "http://testserver"}


def make_store(engine: Engine) -> SessionStore:
    return SessionStore(idle_seconds=IDLE, max_seconds=4 * IDLE, engine=lambda: engine)


def app_client(routes: Routes, **options: Any) -> TestClient:
    return TestClient(Starlette(routes=routes.routes()), follow_redirects=False, **options)


@pytest.fixture(scope="module")
def world_owner(world: mw.World) -> Iterator[Engine]:
    """The world's owner: moves the database's time by rewriting sign-in rows."""
    engine = create_engine(world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def store(world_app: Engine) -> SessionStore:
    return make_store(world_app)


@pytest.fixture
def client(store: SessionStore, world_app: Engine) -> TestClient:
    """The routes over the metrics world (tests/metrics_world.py) as the app's runtime role."""
    return app_client(Routes(store=store, engine=lambda: world_app))


def sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# Moves of the database's time, by the row's secret: each puts that row ``:s`` seconds earlier.
AGE = {
    "idle": "UPDATE orchdash.sessions SET last_seen_at = last_seen_at - :s * interval '1 s'",
    "max": "UPDATE orchdash.sessions SET created_at = created_at - :s * interval '1 s',"
    " ends_at = ends_at - :s * interval '1 s'",
    "ticket": "UPDATE orchdash.sign_in_tickets SET expires_at = expires_at - :s * interval '1 s'",
    "link": "UPDATE orchdash.export_links SET expires_at = expires_at - :s * interval '1 s'",
}


def age(owner: Engine, what: str, secret: str, seconds: float) -> None:
    """As if ``seconds`` had passed for one session (``idle``: unused; ``max``: since sign-in,
    though in use), ticket or link."""
    with owner.begin() as conn:
        changed = conn.execute(
            text(AGE[what] + " WHERE id_sha256 = :id"), {"s": seconds, "id": sha256(secret)}
        ).rowcount
    assert changed == 1, what


def audit_rows(owner: Engine) -> int:
    """Rows of the export audit, everyone's."""
    with owner.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM orchdash.export_audit")).scalar_one())


def post(client: TestClient, path: str, data: dict[str, str] | None = None, **headers: str) -> Any:
    """A form posted from a page of this site (``headers`` replace the Origin)."""
    return client.post(path, data=data or {}, headers=headers or SAME_ORIGIN)


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


def signed_in(store: SessionStore, world: mw.World, label: str) -> SignedIn:
    return store.create(world.users[label], f"{label}@x.test")


def as_browser_of(client: TestClient, user: SignedIn | None) -> TestClient:
    """The client holding only ``user``'s session cookie (None: no cookie at all)."""
    client.cookies.clear()
    if user is not None:
        client.cookies.set(sessions.COOKIE_NAME, sessions.cookie_value(user.session_id))
    return client


# ------------------------------------------------------------------ /auth/session


def test_ticket_becomes_an_http_only_same_site_cookie(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    ticket = store.issue_ticket(world.users["single"], "single@x.test")
    response = post(client, "/auth/session", {"ticket": ticket, "next": "/error-rates?a=1"})
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
    assert session is not None and session.user_id == world.users["single"]


def test_the_database_keeps_only_hashes_of_sessions_and_tickets(
    store: SessionStore, world: mw.World, world_owner: Engine
) -> None:
    ticket = store.issue_ticket(world.users["single"], "single@x.test")
    with world_owner.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM orchdash.sign_in_tickets WHERE id_sha256 = :h"),
                {"h": sha256(ticket)},
            ).scalar_one()
            == 1
        )
    session = store.redeem_ticket(ticket)
    assert session is not None
    with world_owner.connect() as conn:
        rows = conn.execute(text("SELECT * FROM orchdash.sessions")).all()
        dumped = repr(rows) + repr(conn.execute(text("TABLE orchdash.sign_in_tickets")).all())
    assert any(r.id_sha256 == sha256(session.session_id) for r in rows)
    assert session.session_id not in dumped and ticket not in dumped


def test_cookie_is_secure_over_https(
    store: SessionStore, client: TestClient, world: mw.World
) -> None:
    https = TestClient(client.app, base_url="https://dashboard.example", follow_redirects=False)
    for each, headers in (
        (https, {"origin": "https://dashboard.example"}),
        (client, {"x-forwarded-proto": "https", "origin": "https://testserver"}),
    ):
        ticket = store.issue_ticket(world.users["single"], "single@x.test")
        response = post(each, "/auth/session", {"ticket": ticket}, **headers)
        assert flags(set_cookie_headers(response)[sessions.COOKIE_NAME])["secure"] == "True"


def test_spent_expired_or_made_up_tickets_set_no_cookie(
    client: TestClient, store: SessionStore, world: mw.World, world_owner: Engine
) -> None:
    user = world.users["single"]
    ticket = store.issue_ticket(user, "single@x.test")
    assert sessions.COOKIE_NAME in set_cookie_headers(
        post(client, "/auth/session", {"ticket": ticket})
    )
    late = store.issue_ticket(user, "single@x.test")
    age(world_owner, "ticket", late, sessions.TICKET_SECONDS)
    for bad in (ticket, late, "made-up", "x" * 43, ""):
        response = post(client, "/auth/session", {"ticket": bad})
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert sessions.COOKIE_NAME not in set_cookie_headers(response)


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
     "evil", "/\r\nSet-Cookie: x=1", ""],
)  # fmt: skip
def test_next_never_leaves_the_site(
    client: TestClient, store: SessionStore, world: mw.World, target: str
) -> None:
    assert safe_next(target) == "/"
    ticket = store.issue_ticket(world.users["single"], "single@x.test")
    response = post(client, "/auth/session", {"ticket": ticket, "next": target})
    assert response.headers["location"] == "/"


def test_sso_remembers_where_to_go_and_hands_over_to_st_login(
    client: TestClient, store: SessionStore, world: mw.World
) -> None:
    old = signed_in(store, world, "single")
    as_browser_of(client, old)
    response = post(client, "/auth/sso", {"next": "/export?grain=week"})
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
    ticket = store.issue_ticket(world.users["single"], "single@x.test")
    back = post(client, "/auth/session", {"ticket": ticket})
    assert back.headers["location"] == "/export?grain=week"
    cleared = set_cookie_headers(back)
    for name in (sessions.NEXT_COOKIE_NAME, "_streamlit_user", "_streamlit_user_tokens_1"):
        assert "Max-Age=0" in cleared[name], name


# ------------------------------------------------------------------ /auth/signout


def test_sign_out_ends_the_session_everywhere_and_clears_cookies(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    session = signed_in(store, world, "single")
    link = tokens.export_url(session, world_filters(world), world_app)
    assert link is not None
    as_browser_of(client, session)
    client.cookies.set("_streamlit_user", "identity")
    response = post(client, "/auth/signout")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cleared = set_cookie_headers(response)
    for name in (sessions.COOKIE_NAME, "_streamlit_user"):
        assert "Max-Age=0" in cleared[name]
    assert store.get(session.session_id) is None
    # The old cookie, replayed, opens nothing: neither the session nor its export link.
    as_browser_of(client, session)
    assert client.get(link).status_code == 403
    assert tokens.export_url(session, world_filters(world), world_app) is None


# ------------------------------------------------------------------ /export.csv


def world_filters(world: mw.World, **changes: Any) -> Filters:
    values: dict[str, Any] = {"start": mw.FIRST_DAY, "end": mw.LAST_DAY, "tz": "UTC"}
    return Filters(**(values | changes))


def export_link(engine: Engine, user: SignedIn, f: Filters) -> str:
    url = tokens.export_url(user, f, engine)
    assert url is not None
    return url


def link_of(url: str) -> str:
    """The opaque value of an export URL."""
    [link] = parse_qs(urlsplit(url).query)[tokens.PARAM]
    return link


def export(client: TestClient, engine: Engine, user: SignedIn, f: Filters) -> Any:
    """Download from ``user``'s browser the link made there for ``f``."""
    url = export_link(engine, user, f)
    return as_browser_of(client, user).get(url)


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


@pytest.mark.parametrize("label", ["multi", "single", "hostile"])
def test_export_streams_exactly_the_users_rows(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine, label: str
) -> None:
    user = signed_in(store, world, label)
    f = world_filters(world)
    response = export(client, world_app, user, f)
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
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "single")
    outside = world_filters(world, company_ids=(world.companies["acme"],))
    assert rows_of(export(client, world_app, user, outside)) == []


def test_export_filters_apply(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "multi")
    f = world_filters(world, start=date(2026, 1, 1), end=date(2026, 1, 31), stages=(1, 2, 3))
    expected = mw.selected(world, user.user_id, f.start, f.end, f.tz, stages=f.stages)
    rows = rows_of(export(client, world_app, user, f))
    assert len(rows) == len(expected) > 0
    assert {int(r["stage_id"]) for r in rows} <= {1, 2, 3}


def test_the_link_is_opaque_and_stored_hashed(
    store: SessionStore, world: mw.World, world_app: Engine, world_owner: Engine
) -> None:
    user = signed_in(store, world, "multi")
    f = world_filters(world, company_ids=tuple(sorted(world.active(user.user_id))))
    url = export_link(world_app, user, f)
    parts = urlsplit(url)
    assert parts.path == tokens.ROUTE and set(parse_qs(parts.query)) == {tokens.PARAM}
    link = link_of(url)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", link)
    for secret in (user.session_id, user.user_id, *f.company_ids, f.start.isoformat()):
        assert secret not in url
    with world_owner.connect() as conn:
        stored = conn.execute(
            text("SELECT session_sha256 FROM orchdash.export_links WHERE id_sha256 = :h"),
            {"h": sha256(link)},
        ).scalar_one()
    assert stored == sha256(user.session_id)


def test_export_refused_without_the_live_session_that_made_the_link(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine, world_owner: Engine
) -> None:
    f = world_filters(world)
    ended = signed_in(store, world, "multi")
    ended_url = export_link(world_app, ended, f)
    store.end(ended.session_id)
    mine = signed_in(store, world, "multi")
    my_url = export_link(world_app, mine, f)
    my_other_browser = signed_in(store, world, "multi")  # the same person, another session
    someone_else = signed_in(store, world, "single")
    idle = signed_in(store, world, "multi")
    idle_url = export_link(world_app, idle, f)
    age(world_owner, "idle", idle.session_id, IDLE)
    stale = signed_in(store, world, "multi")
    stale_url = export_link(world_app, stale, f)
    age(world_owner, "link", link_of(stale_url), tokens.MAX_AGE_SECONDS)
    forged = sessions.cookie_value(mine.session_id)[:-2] + "xx"
    for holder, url in (
        (ended, ended_url),
        (None, my_url),
        (my_other_browser, my_url),
        (someone_else, my_url),
        (idle, idle_url),
        (stale, stale_url),
        (mine, "/export.csv?link=garbage%00"),
        (mine, "/export.csv?token=" + link_of(my_url)),
        (mine, "/export.csv"),
    ):
        response = as_browser_of(client, holder).get(url)
        assert response.status_code == 403, (holder, url)
        assert response.text == EXPORT_REFUSED
        assert "csv" not in response.headers["content-type"]
    as_browser_of(client, None).cookies.set(sessions.COOKIE_NAME, forged)
    assert client.get(my_url).status_code == 403
    # The rightful browser still downloads with it: the refusals spent nothing of the link.
    assert as_browser_of(client, mine).get(my_url).status_code == 200
    assert tokens.export_url(ended, f, world_app) is None  # no new link for an ended session


def test_export_refused_for_a_deleted_user(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine, world_owner: Engine
) -> None:
    user_id = admin.add_user(world_owner, "leaving@x.test", "password-of-leaver")
    session = store.create(user_id, "leaving@x.test")
    url = export_link(world_app, session, world_filters(world))
    with world_owner.begin() as conn:
        conn.execute(text("DELETE FROM auth.users WHERE id = CAST(:id AS uuid)"), {"id": user_id})
    assert as_browser_of(client, session).get(url).status_code == 403
    assert store.get(session.session_id) is None


def test_export_uses_the_current_scope_not_the_one_at_link_time(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine, world_owner: Engine
) -> None:
    user = signed_in(store, world, "revocable")
    url = export_link(world_app, user, world_filters(world))
    as_browser_of(client, user)

    def revoked(flag: bool) -> None:
        with world_owner.begin() as conn:
            conn.execute(
                text("UPDATE public.user_company_access SET is_active = :a WHERE user_id = :u"),
                {"a": not flag, "u": user.user_id},
            )

    try:
        revoked(True)
        assert rows_of(client.get(url)) == []
    finally:
        revoked(False)
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
