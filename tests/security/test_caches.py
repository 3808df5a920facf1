"""Case 2, caches: st.cache_data is shared by every session of the server. A then B with the same
filters, and B then A, within the cache's TTL: each sees only their own data.

The test first proves the cache is in play (a second session of the same user with the same
filters sends none of the cached queries again), so that a key without the user or the scope
would hand B the frames cached for A, and the page would show A's names.
"""

from __future__ import annotations

import pytest
import streamlit as st
from sqlalchemy import Engine

from queries import engines
from security import apptest
from security import world as w
from security.elements import owners
from security.sql_log import statements, texts


@pytest.mark.parametrize("file", ["overview.py", "error_rates.py"])
@pytest.mark.parametrize(("first", "second"), [("A", "B"), ("B", "A")])
def test_one_user_never_gets_the_frames_cached_for_another(
    app_env: str, hostile_world: w.World, owner: Engine, file: str, first: str, second: str
) -> None:
    st.cache_data.clear()
    engine = engines.get_engine()  # the app's own engine: DATABASE_URL, as the pages open it

    def seen(user: str) -> tuple[set[str | None], set[str]]:
        with statements(engine) as log:
            shot = apptest.page(hostile_world, user, file)
        assert not shot.exceptions and not shot.alerts("error")
        return owners(shot, hostile_world).companies, texts(log)

    scope = {user: w.active_scope(owner, hostile_world.users[user]) for user in (first, second)}
    assert scope[first] and scope[second] and not scope[first] & scope[second]

    shown, asked = seen(first)
    assert shown == scope[first]
    shown, asked_again = seen(first)  # another session, same user and filters
    cached = asked - asked_again
    assert shown == scope[first] and cached, "the second session should be served from the cache"

    shown, asked = seen(second)  # within the TTL, the same filters
    assert shown == scope[second]
    assert cached <= asked  # the other user's frames were computed, not taken from the cache
    shown, _ = seen(first)
    assert shown == scope[first]
