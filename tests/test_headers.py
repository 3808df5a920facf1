"""The security headers middleware (dashboard/web/headers.py) through Starlette's TestClient: on
plain, streamed, refused and failed responses, HSTS only over https, the sign-in script's hash.

tests/e2e/test_headers_browser.py checks the same headers on the running app and the policy in
Chromium.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from dashboard.web import headers

EXPECTED = {
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
REQUIRED_DIRECTIVES = {
    "default-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


async def plain(request: Request) -> Response:
    return PlainTextResponse("ok")


async def framable(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"X-Frame-Options": "SAMEORIGIN"})


async def streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"chunk {n}\n".encode()

    return StreamingResponse(chunks(), media_type="text/csv")


async def refused(request: Request) -> Response:
    return PlainTextResponse("no", status_code=403)


async def failing(request: Request) -> Response:
    raise RuntimeError("boom")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


async def deny(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("no", status_code=403))


@pytest.fixture
def app() -> Starlette:
    routes = [
        Route("/", plain),
        Route("/framable", framable),
        Route("/stream", streamed),
        Route("/refused", refused),
        Route("/fail", failing),
        WebSocketRoute("/ws", echo),
        WebSocketRoute("/deny", deny),
    ]
    return Starlette(routes=routes, middleware=headers.middleware())


@pytest.fixture
def client(app: Starlette) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def directives(policy: str) -> dict[str, list[str]]:
    parsed = [part.split() for part in policy.split(";") if part.strip()]
    return {name: values for name, *values in parsed}


def assert_secured(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], name
    [policy] = response.headers.get_list("content-security-policy")
    found = directives(policy)
    for name, values in REQUIRED_DIRECTIVES.items():
        assert set(found[name]) == values, name


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/stream", 200), ("/refused", 403), ("/missing", 404), ("/fail", 500)],
)
def test_every_response_carries_the_headers(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert_secured(response)


def test_a_streamed_body_arrives_whole(client: TestClient) -> None:
    response = client.get("/stream")
    assert response.text == "chunk 0\nchunk 1\nchunk 2\n"
    assert response.headers["content-type"].startswith("text/csv")


def test_a_routes_own_value_is_replaced_not_doubled(client: TestClient) -> None:
    assert_secured(client.get("/framable"))


def test_a_failure_is_still_raised_for_the_servers_log(app: Starlette) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/fail")


def test_websockets_pass_through(client: TestClient) -> None:
    with client.websocket_connect("/ws") as websocket:
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"


def test_a_refused_websocket_gets_the_headers(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect("/deny"):
            pass
    assert refused.value.status_code == 403
    assert_secured(refused.value)


@pytest.mark.parametrize(
    ("base_url", "forwarded", "hsts"),
    [
        ("http://testserver", None, False),
        ("https://testserver", None, True),
        ("http://testserver", "https", True),
        ("http://testserver", "HTTPS, http", True),
        ("http://testserver", "http, https", False),
        ("http://testserver", "http", False),
    ],
)
def test_hsts_only_over_https(
    app: Starlette, base_url: str, forwarded: str | None, hsts: bool
) -> None:
    client = TestClient(app, base_url=base_url)
    sent = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    response = client.get("/", headers=sent)
    assert_secured(response)
    expected = ["max-age=31536000"] if hsts else []
    assert response.headers.get_list("strict-transport-security") == expected


def test_scripts_only_by_hash_and_the_sign_in_scripts_hash_is_allowed(client: TestClient) -> None:
    script_src = directives(client.get("/").headers["content-security-policy"])["script-src"]
    digest = hashlib.sha256(headers.AUTO_SUBMIT_SCRIPT.encode("utf-8")).digest()
    assert f"'sha256-{base64.b64encode(digest).decode()}'" in script_src
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert headers.AUTO_SUBMIT_SCRIPT == 'document.getElementById("orchdash-post").submit();'
