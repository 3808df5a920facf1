"""HTTP routes served beside the Streamlit app (see server.py): session cookie, sign-out, export.

- ``POST /auth/session`` (form: ``ticket``, ``next``) redeems a one-time sign-in ticket for a
  session, sets the session cookie and sends the browser on to ``next`` (a path of this app, with
  its query, so a shared link opened while signed out shows the linked view after sign-in).
- ``POST /auth/sso`` (form: ``next``) remembers ``next`` in a short-lived cookie and starts the
  OIDC sign-in (``/?orchdash_sso=1``, where the app calls ``st.login``), since the identity
  provider always returns to the app's root.
- ``POST /auth/signout`` ends the session in the database (so in every replica), clears the
  cookies (ours and Streamlit's OIDC identity cookies) and returns to the sign-in page.
- ``GET /export.csv?link=...`` streams the CSV of an export link's filters, only with the session
  cookie of the browser the link was made for; 403 with a plain message otherwise.

The three POSTs are refused (403) unless the request comes from a page of this site (``Origin``,
else ``Sec-Fetch-Site``): a form or link on another site can neither sign a person out nor sign
them into someone else's account. Refused exports are counted and logged (one line a minute at
most), never written per request; a client with too many refusals in a minute is answered 429
without a database lookup, so a flood of junk links cannot take the pool from the dashboard.

The session cookie is HttpOnly, SameSite=Lax, Path=/, Secure when the request came over https,
and lives no longer than a session may.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from dashboard.web import sessions, tokens
from dashboard.web.headers import came_over_https
from dashboard.web.sessions import SessionStore
from dashboard.web.streaming import ThreadedByteStream
from queries import (
    EMPTY_SHA256,
    Action,
    DashboardError,
    Filters,
    HashingWriter,
    Receipt,
    Scope,
    filters_record,
    now_utc,
    plausible_secret,
    record_export,
    user_exists,
)

SSO_PARAM = "orchdash_sso"
NEXT_COOKIE_SECONDS = 600
# Streamlit's OIDC identity cookies (and their `_<n>` chunks). They are cleared once our own
# session exists, so that a session's expiry or sign-out is final and not undone by st.user.
STREAMLIT_AUTH_COOKIES = ("_streamlit_user", "_streamlit_user_tokens")
MAX_CONCURRENT_EXPORTS = 4
NO_STORE = {"Cache-Control": "no-store"}
_log = logging.getLogger(__name__)

NOT_SAME_ORIGIN = "This request did not come from a page of this dashboard."
# Refused exports a client may cause in a minute before it is answered 429 without a lookup.
MAX_REFUSALS_PER_MINUTE = 20
MAX_CLIENTS_REMEMBERED = 10_000
REFUSAL_LOG_SECONDS = 60.0

EXPORT_REFUSED = (
    "This download link is no longer valid: it expired, you signed out, or your access changed. "
    "Open the Export page again and use its Download CSV button."
)


def safe_next(value: str | None) -> str:
    """``value`` if it is a path of this site (with query), else the root: no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in value):
        return "/"
    return value


def _cookie_options(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "path": "/",
        "secure": came_over_https(request.scope),
    }


def _clear_identity_cookies(request: Request, response: Response) -> None:
    for name in request.cookies:
        if any(name == base or name.startswith(base + "_") for base in STREAMLIT_AUTH_COOKIES):
            response.delete_cookie(name, path="/", httponly=True, samesite="lax")


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this site (not from another)."""
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return bool(host) and urlsplit(origin).netloc.lower() == host
    return request.headers.get("sec-fetch-site") == "same-origin"


def client_address(request: Request) -> str:
    """The client's address as uvicorn reports it (behind a trusted proxy: X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


class Refusals:
    """Refused exports: counted per client (too many in a minute: refused outright) and logged
    as one summary line a minute at most, so that a flood writes neither rows nor a log line
    per request."""

    def __init__(
        self,
        per_minute: int = MAX_REFUSALS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._reasons: Counter[str] = Counter()
        self._logged = clock() - REFUSAL_LOG_SECONDS  # the first refusal is reported at once

    def flooding(self, client: str) -> bool:
        """Whether to answer ``client`` 429 (counted for the next report, nothing else)."""
        with self._lock:
            now = self._clock()
            started, count = self._clients.get(client, (0.0, 0))
            cut_off = now - started < 60.0 and count >= self.per_minute
            if cut_off:
                self._report(now, "too many refusals from one client in a minute")
            return cut_off

    def refused(self, client: str, reason: str) -> None:
        with self._lock:
            now = self._clock()
            started, count = self._clients.pop(client, (now, 0))
            if now - started >= 60.0:
                started, count = now, 0
            self._clients[client] = (started, count + 1)
            while len(self._clients) > MAX_CLIENTS_REMEMBERED:
                self._clients.popitem(last=False)
            self._report(now, reason)

    def busy(self) -> None:
        """A valid download turned away because enough run already (not a refusal of the client)."""
        with self._lock:
            self._report(self._clock(), "too many downloads at once")

    def _report(self, now: float, reason: str) -> None:
        """Count ``reason``; log the counts once a minute at most (the lock is held)."""
        self._reasons[reason] += 1
        if now - self._logged >= REFUSAL_LOG_SECONDS:
            summary = ", ".join(f"{n} {why}" for why, n in self._reasons.most_common())
            _log.warning("exports refused since the last report: %s", summary)
            self._reasons.clear()
            self._logged = now


class Routes:
    """The routes over one session store and one engine (both injectable for tests)."""

    def __init__(
        self,
        store: SessionStore | None = None,
        engine: Callable[[], Engine] | None = None,
        max_exports: int = MAX_CONCURRENT_EXPORTS,
        refusals: Refusals | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._exports = threading.BoundedSemaphore(max_exports)
        self.refusals = refusals or Refusals()

    @property
    def store(self) -> SessionStore:
        return self._store or sessions.store()

    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine()
        from queries import get_engine

        return get_engine()

    def routes(self) -> list[Route]:
        return [
            Route("/auth/session", self.session, methods=["POST"]),
            Route("/auth/sso", self.sso, methods=["POST"]),
            Route("/auth/signout", self.signout, methods=["POST"]),
            Route(tokens.ROUTE, self.export, methods=["GET"]),
        ]

    async def session(self, request: Request) -> Response:
        if not same_origin(request):
            return _not_same_origin()
        form = await request.form()
        ticket = str(form.get("ticket") or "")
        target = safe_next(
            str(form.get("next") or "") or request.cookies.get(sessions.NEXT_COOKIE_NAME)
        )
        response = RedirectResponse(target, status_code=303, headers=NO_STORE)
        response.delete_cookie(sessions.NEXT_COOKIE_NAME, path="/")
        session = await run_in_threadpool(self.store.redeem_ticket, ticket) if ticket else None
        if session is not None:
            response.set_cookie(
                sessions.COOKIE_NAME,
                sessions.cookie_value(session.session_id),
                max_age=int(self.store.max_seconds),
                **_cookie_options(request),
            )
            _clear_identity_cookies(request, response)
        return response

    async def sso(self, request: Request) -> Response:
        if not same_origin(request):
            return _not_same_origin()
        form = await request.form()
        response = RedirectResponse(f"/?{SSO_PARAM}=1", status_code=303, headers=NO_STORE)
        response.set_cookie(
            sessions.NEXT_COOKIE_NAME,
            safe_next(str(form.get("next") or "")),
            max_age=NEXT_COOKIE_SECONDS,
            **_cookie_options(request),
        )
        # A stale session cookie would otherwise outlive the new sign-in's first page run.
        await self._end_cookie_session(request)
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response

    async def signout(self, request: Request) -> Response:
        if not same_origin(request):
            return _not_same_origin()
        await self._end_cookie_session(request)
        response = RedirectResponse("/", status_code=303, headers=NO_STORE)
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        response.delete_cookie(sessions.NEXT_COOKIE_NAME, path="/")
        _clear_identity_cookies(request, response)
        return response

    async def _end_cookie_session(self, request: Request) -> None:
        sid = sessions.session_id_from_cookie(request.cookies.get(sessions.COOKIE_NAME))
        if sid:
            await run_in_threadpool(self.store.end, sid)

    async def export(self, request: Request) -> Response:
        client = client_address(request)
        if self.refusals.flooding(client):
            return PlainTextResponse(
                "Too many refused downloads. Please wait a minute.",
                status_code=429,
                headers={**NO_STORE, "Retry-After": "60"},
            )
        link = request.query_params.get(tokens.PARAM, "")
        sid = sessions.session_id_from_cookie(request.cookies.get(sessions.COOKIE_NAME))
        if not plausible_secret(link) or sid is None:
            return self._refused(client, "no session cookie or a malformed link")
        try:
            grant = await run_in_threadpool(tokens.open_export_link, self.engine(), link, sid)
        except DashboardError as exc:
            return PlainTextResponse(exc.user_message, status_code=503, headers=NO_STORE)
        if grant is None:
            return self._refused(client, "unknown or expired link, or not this browser's session")
        if not self._exports.acquire(blocking=False):
            # A rightful download that must wait: logged, but not held against the client.
            self.refusals.busy()
            return PlainTextResponse(
                "Too many downloads at once. Please retry in a moment.",
                status_code=503,
                headers={**NO_STORE, "Retry-After": "10"},
            )
        slot = _Slot(self._exports)
        try:
            return await self._export_response(grant, slot, client)
        except DashboardError as exc:
            slot.release()
            return PlainTextResponse(exc.user_message, status_code=503, headers=NO_STORE)
        except BaseException:
            slot.release()
            raise

    def _refused(self, client: str, reason: str) -> Response:
        self.refusals.refused(client, reason)
        return _refused()

    async def _export_response(
        self, grant: tokens.ExportGrant, slot: _Slot, client: str
    ) -> Response:
        import queries

        engine = self.engine()
        if not await run_in_threadpool(user_exists, engine, grant.user_id):
            await run_in_threadpool(self.store.end_user, grant.user_id)
            slot.release()
            return self._refused(client, "account closed")
        scope = await run_in_threadpool(queries.scope_for_user, engine, grant.user_id)
        f = grant.filters
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"orchestration-metrics_{f.start}_{f.end}_{stamp}.csv"
        # The receipt's hash is of exactly the bytes written into the response.
        written: dict[str, Any] = {"as_of": now_utc()}

        def produce(out: Any) -> None:
            written["writer"] = writer = HashingWriter(out)
            written["rows"] = queries.export_csv(engine, scope, f, writer)  # type: ignore[arg-type]

        stream = ThreadedByteStream(produce)
        await stream.start()  # a failure before the first byte still gets an error status

        async def body() -> AsyncIterator[bytes]:
            complete = False
            try:
                async for chunk in stream:
                    yield chunk
                complete = True
            finally:
                stream.cancel()
                slot.release()
                await self._audit_export(grant.user_id, scope, f, filename, written, complete)

        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _audit(
        self,
        user_id: str,
        action: Action,
        receipt: Receipt,
        reason: str | None = None,
    ) -> None:
        """Record a download (whole or not); a failing audit is logged, never shown to the reader.
        Refusals are not written here: :class:`Refusals` counts and logs them."""
        try:
            engine = self.engine()
            await run_in_threadpool(record_export, engine, user_id, action, receipt, reason)
        except Exception:
            _log.exception("export audit failed")

    async def _audit_export(
        self,
        user_id: str,
        scope: Scope,
        f: Filters,
        filename: str,
        written: dict[str, Any],
        complete: bool,
    ) -> None:
        writer = written.get("writer")
        receipt = Receipt(
            file_name=filename,
            filters=filters_record(f),
            time_zone=f.tz,
            data_as_of=written["as_of"],
            row_count=int(written.get("rows", 0)),
            scope=scope.company_ids,
            sha256=writer.hexdigest() if writer else EMPTY_SHA256,
            user_id=user_id,
        )
        if complete:
            await self._audit(user_id, "export", receipt)
        else:
            await self._audit(user_id, "export_incomplete", receipt, reason="download not finished")


class _Slot:
    """One acquired place among the concurrent exports, released exactly once."""

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore = semaphore
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if not self._released:
                self._released = True
                self._semaphore.release()


def _refused() -> Response:
    return PlainTextResponse(EXPORT_REFUSED, status_code=403, headers=NO_STORE)


def _not_same_origin() -> Response:
    return PlainTextResponse(NOT_SAME_ORIGIN, status_code=403, headers=NO_STORE)


def routes() -> list[Route]:
    """The routes of the running app: the process's session store, the app's engine."""
    return Routes().routes()
