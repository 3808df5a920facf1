"""App servers on the hostile world: `orchdash run` as `make run` starts it (tests/e2e/harness),
pointed at the world's database through DATABASE_URL."""

from __future__ import annotations

import pytest
from harness import AppServer


def start_server(
    factory: pytest.TempPathFactory, database_url: str, env: dict[str, str] | None = None
) -> AppServer:
    server = AppServer(
        factory.mktemp("orchdash-security"),
        {"DATABASE_URL": database_url, "ORCHDASH_TIMEZONE": "UTC", **(env or {})},
    )
    server.start()
    return server
