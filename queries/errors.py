"""The errors the UI shows as messages: each has a text fit for a chairman, never a traceback;
and ``translated_errors()``, which turns driver and pool failures into them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc


class DashboardError(Exception):
    """Base of every error the UI turns into a message."""

    user_message = "Something went wrong."


class InvalidFilter(DashboardError, ValueError):
    """A filter value that is not valid; the message says which and why."""

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)


class DataUnavailable(DashboardError):
    user_message = "The data is unavailable right now: the database cannot be reached."


class Busy(DashboardError):
    user_message = "The dashboard is busy serving other people. Please retry in a moment."


class QueryTimeout(DashboardError):
    user_message = (
        # A statement over its limit is most often one that waited on writes (a lock, or a table
        # just rewritten and not yet vacuumed): say so, and that a retry will likely do.
        "The data is being updated, and this view took too long to compute, so it was "
        "cancelled. Retry in a moment, or narrow the period or filters."
    )


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn driver and pool failures into the dashboard's error types."""
    try:
        yield
    except sa_exc.TimeoutError as exc:  # the pool's, not the server's
        raise Busy() from exc
    except sa_exc.DBAPIError as exc:
        mapped = _mapped(exc.orig, lost=exc.connection_invalidated)
        if mapped is None:
            raise
        raise mapped from exc
    except psycopg.Error as exc:  # raised by the raw driver connection (COPY)
        mapped = _mapped(exc, lost=False)
        if mapped is None:
            raise
        raise mapped from exc


def _mapped(orig: BaseException | None, *, lost: bool) -> Exception | None:
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return QueryTimeout()
    if lost or isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return DataUnavailable()
    return None
