"""Drawing the dashboard's pages in-process with Streamlit's AppTest, signed in as a world user.

dashboard/app.py runs exactly as served (sign-in gate, then layout.main); the user is signed in
the way dashboard/ui/auth.py documents for AppTest: a SignedIn in ``session_state[SESSION_KEY]``,
here with a live session of the process's store, so the export links it draws work too.
AppTest keeps the files of download buttons only during a run: :class:`RecordingStorage`, put
in its place by :func:`record_downloads`, keeps them for the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from dashboard.ui import pages
from dashboard.ui.auth import SESSION_KEY, SignedIn
from dashboard.web import sessions
from dashboard.web.routes import Routes
from dashboard.web.sessions import COOKIE_NAME
from queries import engines
from security import world as w
from security.elements import Download, Snapshot, snapshot

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# (script file, title, url path) of every page, as the navigation lists them.
PAGES = [(p.file, p.title) for p in pages.PAGES]


class RecordingStorage(MemoryMediaFileStorage):
    """The AppTest media storage, keeping every file it was given beyond the run."""

    files: ClassVar[dict[str, MemoryFile]] = {}

    def load_and_get_id(
        self,
        path_or_data: str | bytes,
        mimetype: str,
        kind: MediaFileKind,
        filename: str | None = None,
    ) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        RecordingStorage.files[file_id] = self._files_by_id[file_id]
        return file_id


def record_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)


def _fetch(url: str) -> Download:
    stored = RecordingStorage.files[Path(url).stem]
    return Download(file_name=stored.filename or "", data=stored.content)


_sessions: dict[tuple[str, str], SignedIn] = {}


def signed_in(world: w.World, user: str) -> SignedIn:
    """The user's live session in the store (one per user, made anew once it ended), so that
    :func:`routes_client` can present its cookie with the links its pages made."""
    known = _sessions.get((world.url, user))
    if known is None or sessions.store().get(known.session_id, touch=False) is None:
        known = _sessions[world.url, user] = sessions.store().create(
            world.users[user], w.email(user)
        )
    return known


def app_for(world: w.World, user: str | None, query: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.session_state[SESSION_KEY] = signed_in(world, user)
    at.query_params.update(query or {})
    return at


def open_page(at: AppTest, file: str) -> AppTest:
    """Run the app, then switch to the page (the first page is the default)."""
    at.run()
    if file != PAGES[0][0]:
        at.switch_page(f"app_pages/{file}").run()
    return at


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None) or {}
    for child in children.values():
        yield from _nodes(child)


def shot(at: AppTest) -> Snapshot:
    """Everything the last run drew (main area and sidebar), decoded."""
    messages: list[Message] = [
        node.proto for node in _nodes(at._tree) if isinstance(getattr(node, "proto", None), Message)
    ]
    return snapshot(messages, _fetch)


def routes_client(world: w.World, user: str) -> TestClient:
    """The app's HTTP routes (the streamed /export.csv among them) on the app's engine and the
    process's session store, as the server mounts them beside the pages, in the browser of
    ``user``: with the cookie of their session, which export links require."""
    client = TestClient(Starlette(routes=Routes(engine=engines.get_engine).routes()))
    client.cookies.set(COOKIE_NAME, sessions.cookie_value(signed_in(world, user).session_id))
    return client


def page(
    world: w.World, user: str | None, file: str, query: dict[str, Any] | None = None
) -> Snapshot:
    return shot(open_page(app_for(world, user, query), file))
