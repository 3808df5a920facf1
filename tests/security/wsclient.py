"""A Streamlit client without a browser: the websocket protocol the frontend speaks, for the load
and session tests against a real server (``orchdash run``).

A :class:`Tab` is one browser tab: one websocket, hence one Streamlit session, carrying the
session cookie of its sign-in. ``await tab.run(page, query)`` asks for a script run as the
frontend does on navigation and returns the elements the run drew (:class:`Drawn`). Download
buttons' files come from the server's media endpoint over HTTP. :func:`sign_in` fills the
sign-in form over the websocket and redeems the ticket at ``/auth/session`` for the cookie.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlencode

import httpx
from google.protobuf.message import Message
from posted_form import posted_form
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Button_pb2 import Button
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.Html_pb2 import Html
from streamlit.proto.TextInput_pb2 import TextInput
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.asyncio.client import ClientConnection, connect

from dashboard.web.sessions import COOKIE_NAME
from security.elements import Download, Snapshot, snapshot

T = TypeVar("T")


@dataclass
class Drawn:
    """The elements of one finished run, in drawing order (later writes replace earlier)."""

    messages: list[Message]
    page_not_found: bool = False

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    def posted(self) -> tuple[str, dict[str, str]] | None:
        """Where a drawn form posts the browser (sign-in, sign-out), and what, if anywhere."""
        for html in self.of(Html):
            form = posted_form(html.body)
            if form is not None:
                return form
        return None


class Tab:
    """One browser tab of ``base_url`` (``http://localhost:<port>``)."""

    def __init__(self, base_url: str, cookie: str | None = None) -> None:
        self.base_url = base_url
        self.cookie = cookie
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> Tab:
        headers = {"Origin": self.base_url}
        if self.cookie:
            headers["Cookie"] = f"{COOKIE_NAME}={self.cookie}"
        self._ws = await connect(
            self.base_url.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            additional_headers=headers,
            max_size=None,
            open_timeout=30,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def run(
        self,
        page: str = "",
        query: dict[str, Any] | None = None,
        widgets: list[WidgetState] | None = None,
        timeout: float = 120,
    ) -> Drawn:
        """A script run of ``page`` (its url path) with ``query``, as after a navigation."""
        assert self._ws is not None
        query_string = urlencode(query or {}, doseq=True)
        url = f"{self.base_url}/{page}" + (f"?{query_string}" if query_string else "")
        state = ClientState(
            query_string=query_string,
            page_name=page,
            widget_states=WidgetStates(widgets=widgets or []),
            context_info=ContextInfo(url=url, timezone="UTC", locale="en-US"),
        )
        await self._ws.send(BackMsg(rerun_script=state).SerializeToString())
        return await asyncio.wait_for(self._drawn(), timeout)

    async def _drawn(self) -> Drawn:
        assert self._ws is not None
        elements: dict[tuple[int, ...], Message] = {}
        not_found = False
        async for frame in self._ws:
            msg = ForwardMsg.FromString(frame if isinstance(frame, bytes) else frame.encode())
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                elements.clear()
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                inner = element.WhichOneof("type")
                if inner:
                    elements[tuple(msg.metadata.delta_path)] = getattr(element, inner)
            elif kind == "page_not_found":
                not_found = True
            elif kind == "script_finished" and msg.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY,
                ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
            ):
                break
        return Drawn([elements[path] for path in sorted(elements)], not_found)

    async def snapshot(self, drawn: Drawn, client: httpx.AsyncClient) -> Snapshot:
        """The drawn page decoded, download files fetched from the server."""
        files: dict[str, Download] = {}
        for message in drawn.messages:
            url = getattr(message, "url", "")
            if type(message).__name__ == "DownloadButton" and url not in files:
                response = await client.get(self.base_url + url)
                response.raise_for_status()
                disposition = response.headers.get("content-disposition", "")
                name = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition)
                files[url] = Download(unquote(name.group(1)) if name else "", response.content)
        return snapshot(drawn.messages, lambda url: files[url])


def form_widgets(drawn: Drawn, values: dict[str, str], submit: str) -> list[WidgetState]:
    """The widget states of a form submission: text inputs by label, the submit button."""
    states = []
    for text_input in drawn.of(TextInput):
        if text_input.label in values:
            states.append(WidgetState(id=text_input.id, string_value=values[text_input.label]))
    button = next(b for b in drawn.of(Button) if b.label == submit)
    states.append(WidgetState(id=button.id, trigger_value=True))
    return states


async def sign_in(base_url: str, email: str, password: str) -> str | None:
    """The session cookie of a password sign-in through the form, or None if refused."""
    async with Tab(base_url) as tab:
        form = await tab.run()
        submitted = await tab.run(
            widgets=form_widgets(form, {"Email": email, "Password": password}, "Sign in")
        )
    posted = submitted.posted()
    if posted is None:
        return None
    action, fields = posted
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False) as client:
        # As the page's own form: from this site's origin.
        response = await client.post(action, data=fields, headers={"Origin": base_url})
    return response.cookies.get(COOKIE_NAME)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: Playwright's sync API keeps an event loop running
    in the main thread while a browser fixture is alive."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
