"""Case 3, revocation: R's access to C1 is set inactive while R is signed in and has C1's pages
open (and cached). At R's next interaction every page shows nothing of C1, and an export whose
link was made before the revocation is empty.

The documented bound is the cache's TTL (dashboard/ui/data.py, TTL_S); the scope is recomputed on
every run and is part of every cache key, so this test holds R to the next run, well within it.
A deleted user is signed out at the next run: tests/test_auth.py
(test_a_deleted_user_is_signed_out_at_the_next_run) and, for export links, tests/test_routes.py
(test_export_refused_for_a_deleted_user).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from dashboard.ui import data
from security import apptest
from security import world as w
from security.elements import owners, read_csv


@pytest.fixture
def revocable(owner: Engine, hostile_world: w.World) -> Iterator[tuple[str, str]]:
    user, company = hostile_world.users["R"], hostile_world.companies["C1"]
    assert w.active_scope(owner, user) == {company}
    yield user, company
    w.set_access(owner, user, company, active=True)  # as it was, for the other tests


def test_revoked_access_shows_nothing_at_the_next_run_and_empties_the_export(
    app_env: str, hostile_world: w.World, owner: Engine, revocable: tuple[str, str]
) -> None:
    user, c1 = revocable
    tabs = {file: apptest.app_for(hostile_world, "R") for file, _ in apptest.PAGES}
    for file, at in tabs.items():
        shot = apptest.shot(apptest.open_page(at, file))
        if file != "stage_durations.py":  # a page without names: its totals are checked in
            assert owners(shot, hostile_world).companies == {c1}  # test_cross_tenant.py
    link = apptest.shot(tabs["export.py"]).links[0]
    client = apptest.routes_client(hostile_world, "R")
    assert len(read_csv(client.get(link).content)) > 1  # the link works before

    w.set_access(owner, user, c1, active=False)

    for at in tabs.values():
        shot = apptest.shot(at.run())  # the next interaction in each open tab
        assert not shot.exceptions
        assert shot.alerts("info") == [data.NO_ACCESS]
        assert owners(shot, hostile_world).companies == set()
        assert not (shot.charts or shot.frames or shot.downloads or shot.links)
    after = client.get(link)  # an export started after the revocation
    assert after.status_code == 403 or read_csv(after.content)[1:] == []
