"""Every statement an engine sends, with its bound parameters: what a page asked of PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, str]]]:
    """Collects ``(sql, repr(parameters))`` of each statement executed inside the block."""
    seen: list[tuple[str, str]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append((sql, repr(params)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def texts(log: list[tuple[str, str]]) -> set[str]:
    return {sql for sql, _ in log}
