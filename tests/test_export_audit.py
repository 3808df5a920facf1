"""Every streamed export leaves a receipt in the audit whose SHA-256 is that of the downloaded
file, and every refused attempt leaves a row too (routes of tests/test_routes.py, metrics world)."""

from __future__ import annotations

import hashlib

import metrics_world as mw
import test_routes as routes_tests
from sqlalchemy import Engine
from starlette.testclient import TestClient
from test_routes import export, signed_in, world_filters

from dashboard.web.sessions import SessionStore
from queries import Scope, audit

clock = routes_tests.clock
store = routes_tests.store
client = routes_tests.client


def test_an_export_leaves_a_receipt_that_hashes_to_the_file(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "single")
    f = world_filters(world, tz="Asia/Kolkata")
    response = export(client, user, f)
    assert response.status_code == 200
    mine = audit.my_exports(world_app, Scope(user_id=user.user_id))
    row = mine[mine["action"] == "export"].iloc[0]
    receipt = audit.Receipt.from_audit(row.to_dict(), user.user_id)
    assert receipt.sha256 == hashlib.sha256(response.content).hexdigest()
    assert f'filename="{receipt.file_name}"' in response.headers["content-disposition"]
    assert receipt.row_count == response.content.count(b"\r\n") - 1 > 0
    assert receipt.time_zone == "Asia/Kolkata" and receipt.filters["tz"] == "Asia/Kolkata"
    assert set(receipt.scope) == world.active(user.user_id)


def test_refused_attempts_are_recorded(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "hostile")
    f = world_filters(world)

    def refused() -> int:
        mine = audit.my_exports(world_app, Scope(user_id=user.user_id))
        return int((mine["action"] == "refused").sum())

    before = refused()
    store.end(user.session_id)
    assert export(client, user, f).status_code == 403
    assert client.get("/export.csv?token=garbage").status_code == 403  # recorded for nobody
    assert refused() == before + 1
    latest = audit.my_exports(world_app, Scope(user_id=user.user_id), limit=1).iloc[0]
    assert latest["action"] == "refused" and latest["filters"]["start"] == f.start.isoformat()
