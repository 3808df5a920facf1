"""The errors the UI shows as messages: each has a text fit for a chairman, never a traceback."""

from __future__ import annotations


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
        "This view took too long to compute and was cancelled. Narrow the period or filters."
    )
