"""Engines and their URLs: the app's runtime role and the owner, from DATABASE_URL (or
ORCHDASH_ADMIN_DATABASE_URL), else the embedded server.

``get_engine()`` connects as the app's runtime role (read-only, no BYPASSRLS). ``admin_engine()``
connects as the owner, for migrations and demo data only. Tenant SQL runs only through
``queries.transactions.scoped()``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from queries import config
from queries.embedded import embedded_url, ensure_embedded_database

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def with_driver(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def admin_url() -> str:
    """The owner's URL: ORCHDASH_ADMIN_DATABASE_URL, else DATABASE_URL, else the embedded server."""
    url = os.environ.get("ORCHDASH_ADMIN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return with_driver(url)
    ensure_embedded_database()
    return embedded_url("postgres", config.DATABASE_NAME)


def app_url() -> str:
    """The runtime role's URL: DATABASE_URL, else the embedded server as the app role."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_driver(url)
    ensure_embedded_database()
    return embedded_url(config.APP_ROLE, config.DATABASE_NAME)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pool settings the dashboard relies on."""
    options = {
        # Nothing a pooler in transaction mode (Supabase's on port 6543, pgbouncer) breaks: no
        # startup "options" (pgbouncer refuses them; jit is set in each scoped transaction), no
        # automatic prepared statements (psycopg prepares on the sixth run; the pooler may run
        # the next on a server connection that lacks it, and pgbouncer before 1.21 cannot pass
        # them on). Parsing and planning each time costs a page 5 to 12 ms (timed by hand).
        "connect_args": {"application_name": "orchdash", "prepare_threshold": None},
        # No hstore here: its type lookup would cost each new engine a round trip.
        "use_native_hstore": False,
        # Errors name the statement but not its values: a typed email (or a password typed into
        # the email field) never reaches a log through an error's text.
        "hide_parameters": True,
        # A restarted server leaves dead pooled connections; ping before use.
        "pool_pre_ping": True,
        "pool_size": int(os.environ.get("ORCHDASH_POOL_SIZE", "8")),
        "max_overflow": 4,
        # An exhausted pool answers "busy" within seconds instead of hanging the page.
        "pool_timeout": float(os.environ.get("ORCHDASH_POOL_TIMEOUT_S", "5")),
    }
    options.update(kwargs)
    return create_engine(url, **options)


def get_engine(url: str | None = None) -> Engine:
    """The engine of the app's runtime role (DATABASE_URL, or the embedded server)."""
    key = url or app_url()
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(key)
        return engine


def admin_engine() -> Engine:
    """The owner's engine, for migrations and the demo loader: never for tenant queries."""
    return get_engine(admin_url())


def as_role(url: str, role: str, password: str | None = None) -> str:
    """The same server and database, logged in as another role."""
    parsed = make_url(url).set(username=role, password=password)
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)
