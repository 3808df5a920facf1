"""Security headers on every HTTP response of the served app: Streamlit's and our routes.

:class:`SecurityHeaders` is pure ASGI (BaseHTTPMiddleware would buffer streamed exports and does
not see websockets): it adds :data:`HEADERS` to each response start message, and
``Strict-Transport-Security`` when the request came over https. st.App puts user middleware
around Streamlit's own (index.html, static files, ``/_stcore/*``) and around our routes, so
:func:`middleware` in server.py covers them all.

The policy allows scripts from this origin and, inline, only Streamlit's own start-up script and
:data:`AUTO_SUBMIT_SCRIPT`, each by its hash. ``st.html(..., unsafe_allow_javascript=True)``
re-creates each ``<script>`` as a new element in the page, whose text must then hash exactly to
an allowed value: the sign-in code renders that constant, never a script with data in it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Submits the form with this id; the sign-in code renders it beside the form (a POST carries
# the ticket in its body, not in a URL that history or logs keep).
AUTO_SUBMIT_SCRIPT = 'document.getElementById("orchdash-post").submit();'
HSTS = "max-age=31536000"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hash(source: str) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def streamlit_inline_scripts() -> tuple[str, ...]:
    """The inline scripts of the index.html Streamlit serves (read from the installed version,
    so that an upgrade that changes them does not silently break the page)."""
    from streamlit import file_util

    index = Path(file_util.get_static_dir()) / "index.html"
    return tuple(_INLINE_SCRIPT.findall(index.read_text("utf-8"))) if index.exists() else ()


def content_security_policy() -> str:
    scripts = " ".join(script_hash(s) for s in (*streamlit_inline_scripts(), AUTO_SUBMIT_SCRIPT))
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {scripts}",
        # Streamlit (emotion) and Plotly write <style> elements and style attributes.
        "style-src": "'self' 'unsafe-inline'",
        # Plotly draws heatmaps as data: images; Streamlit's CSS embeds a data: font.
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        # 'self' covers the websocket (ws: or wss: on this host) in CSP Level 3 browsers.
        "connect-src": "'self'",
        "worker-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = content_security_policy()
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    # Export links carry a token: no other site ever sees one in a Referer.
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
# An HTTP answer to a websocket request (a refused upgrade) is a response like any other.
_RESPONSE_STARTS = ("http.response.start", "websocket.http.response.start")


def came_over_https(scope: Scope) -> bool:
    """The request's scheme, or the first X-Forwarded-Proto (a proxy's), is https."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-proto", b"")
    return forwarded.split(b",")[0].strip().lower() == b"https"


def response_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    values = {**HEADERS, **({"strict-transport-security": HSTS} if came_over_https(scope) else {})}
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in values.items()]


class SecurityHeaders:
    """Adds the security headers to every HTTP response, replacing any of the same name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ours = response_headers(scope)
        names = {name for name, _ in ours}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] in _RESPONSE_STARTS:
                started = True
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + ours}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's 500 is sent by its outermost middleware, outside this one: send it
            # here (the same plain text), and re-raise for the server's log.
            if scope["type"] == "http" and not started:
                error = PlainTextResponse("Internal Server Error", status_code=500)
                await error(scope, receive, send_with_headers)
            raise


def middleware() -> list[Middleware]:
    """The middleware of the served app (st.App(..., middleware=...))."""
    return [Middleware(SecurityHeaders)]
