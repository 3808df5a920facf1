"""Named SQL files under queries/sql/, loaded once and checked when loaded.

Each file starts with a comment block that documents the query and declares its parameters:

    -- Rows per stage for the scoped filters.
    -- params: company_ids, start_ts, end_ts

The declared parameters must equal the bound parameters the SQL uses (``:name``), so a typo in
either place fails at import time in the tests, not at run time in a page.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

SQL_DIR = Path(__file__).parent / "sql"
_PARAMS = re.compile(r"^--[ \t]*params:[ \t]*(.*)$", re.MULTILINE)


class SqlFileError(RuntimeError):
    pass


@cache
def load(name: str) -> TextClause:
    """The statement in ``queries/sql/<name>.sql``, with its parameters checked."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise SqlFileError(f"bad SQL file name {name!r}")
    source = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    declared_match = _PARAMS.search(source)
    declared = (
        {p.strip() for p in declared_match.group(1).split(",") if p.strip()}
        if declared_match
        else set()
    )
    statement = text(source)
    used = set(statement._bindparams)
    if used != declared:
        raise SqlFileError(f"{name}.sql declares {sorted(declared)} but uses {sorted(used)}")
    return statement


def names() -> list[str]:
    return sorted(p.stem for p in SQL_DIR.glob("*.sql"))
