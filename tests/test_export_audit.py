"""Every streamed export leaves a receipt in the audit whose SHA-256 is that of the downloaded
file; a refused attempt leaves no row (a flood of them must not reach the database: see
tests/security/test_sessions_attacks.py) but is reported in the log (routes of
tests/test_routes.py, metrics world)."""

from __future__ import annotations

import hashlib
import logging

import metrics_world as mw
import pytest
import test_routes as routes_tests
from sqlalchemy import Engine
from starlette.testclient import TestClient
from test_routes import (
    as_browser_of,
    audit_rows,
    export,
    export_link,
    signed_in,
    world_filters,
)

from dashboard.web.sessions import SessionStore
from queries import Scope, audit

store = routes_tests.store
client = routes_tests.client
world_owner = routes_tests.world_owner


def test_an_export_leaves_a_receipt_that_hashes_to_the_file(
    client: TestClient, store: SessionStore, world: mw.World, world_app: Engine
) -> None:
    user = signed_in(store, world, "single")
    f = world_filters(world, tz="Asia/Kolkata")
    response = export(client, world_app, user, f)
    assert response.status_code == 200
    mine = audit.my_exports(world_app, Scope(user_id=user.user_id))
    row = mine[mine["action"] == "export"].iloc[0]
    receipt = audit.Receipt.from_audit(row.to_dict(), user.user_id)
    assert receipt.sha256 == hashlib.sha256(response.content).hexdigest()
    assert f'filename="{receipt.file_name}"' in response.headers["content-disposition"]
    assert receipt.row_count == response.content.count(b"\r\n") - 1 > 0
    assert receipt.time_zone == "Asia/Kolkata" and receipt.filters["tz"] == "Asia/Kolkata"
    assert set(receipt.scope) == world.active(user.user_id)


def test_refused_attempts_write_no_row_and_are_reported_in_the_log(
    client: TestClient,
    store: SessionStore,
    world: mw.World,
    world_app: Engine,
    world_owner: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = signed_in(store, world, "hostile")
    url = export_link(world_app, user, world_filters(world))
    store.end(user.session_id)
    before = audit_rows(world_owner)
    with caplog.at_level(logging.WARNING, logger="dashboard.web.routes"):
        assert as_browser_of(client, user).get(url).status_code == 403
    assert audit_rows(world_owner) == before
    [line] = [r.getMessage() for r in caplog.records if "exports refused" in r.getMessage()]
    assert "1 unknown or expired link, or not this browser's session" in line
    assert user.session_id not in line and user.user_id not in line
