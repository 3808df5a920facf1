"""Fixtures of Supabase-shaped databases, registered by tests/conftest.py (``supabase.fixtures``).

``supabase_cluster`` is parametrized over ``pg15`` and ``pg18``. A cluster is started and its
template built the first time a test asks for that version, once per session (the registry
outlives pytest's re-creation of a parametrized session fixture), and stopped at the end.

    def test_x(supabase_cluster):
        url = supabase_cluster.new_database("orchdash_sb")  # as postgres, the migration role
        supabase_cluster.url_as("orchdash_app", "postgres")  # any role, trust auth
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supabase import clusters, loader, shaped

VERSIONS = {"pg15": 15, "pg18": 18}


class SupabaseClusters:
    """One SupabaseCluster per version, made on first use; an unavailable one is remembered."""

    def __init__(self) -> None:
        self._made: dict[int, shaped.SupabaseCluster | clusters.Unavailable] = {}

    def get(self, version: int) -> shaped.SupabaseCluster:
        if version not in self._made:
            try:
                cluster = shaped.build(version)
            except clusters.Unavailable as missing:
                self._made[version] = missing
            else:
                self._made[version] = cluster
                print(
                    f"\nSupabase-shaped PostgreSQL {version}: started in "
                    f"{cluster.start_seconds:.2f} s; {loader.describe(cluster.report)}"
                )
        made = self._made[version]
        if isinstance(made, clusters.Unavailable):
            pytest.skip(f"Supabase-shaped PostgreSQL {version}: {made}")
        return made

    def close(self) -> None:
        for made in self._made.values():
            if isinstance(made, shaped.SupabaseCluster):
                made.close()
        self._made.clear()


@pytest.fixture(scope="session")
def supabase_clusters() -> Iterator[SupabaseClusters]:
    registry = SupabaseClusters()
    yield registry
    registry.close()


@pytest.fixture(scope="session", params=list(VERSIONS), ids=list(VERSIONS))
def supabase_cluster(
    request: pytest.FixtureRequest, supabase_clusters: SupabaseClusters
) -> shaped.SupabaseCluster:
    """A Supabase-shaped cluster: ``.version``, ``.superuser_url``, ``.url_as(role, database,
    password=None)``, ``.new_database(prefix) -> URL as postgres``, ``.report`` (what the
    loader skipped, stood in and added)."""
    return supabase_clusters.get(VERSIONS[request.param])
