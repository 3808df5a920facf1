"""Named SQL files under queries/sql/, loaded once and checked when loaded.

Each file starts with a comment block that documents the query and declares its parameters:

    -- Rows per stage for the scoped filters.
    -- params: company_ids, start_ts, end_ts

The declared parameters must equal the bound parameters the SQL uses (``:name``), so a typo in
either place fails at import time in the tests, not at run time in a page.

Fragments: a file whose name starts with ``_`` holds conditions that several statements share
(the filters' period, the chosen ventures and stages, the agent filter), written once. A
statement takes one in with a line of its own,

    WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(m)

which loading replaces by the fragment's conditions (its comment block left out), at the line's
indentation, about the rows of alias ``m``: a fragment calls its rows ``rows``, and the alias must
be one of :data:`ALIASES`, so that nothing but a fixed alias is ever written into the SQL. Values
are never written in: the fragment's parameters stay bound parameters, and the statement
declares them among its own, so that its ``params:`` line stays the whole of what it binds. A
fragment declares its parameters too and is checked the same way; an unknown fragment, an alias
outside the list, or an include inside a fragment fails when the statement is loaded.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

SQL_DIR = Path(__file__).parent / "sql"
_PARAMS = re.compile(r"^--[ \t]*params:[ \t]*(.*)$", re.MULTILINE)
_INCLUDE = re.compile(r"^([ \t]*)--[ \t]*include:(.*)$", re.MULTILINE)
_INCLUDED = re.compile(r"[ \t]*(_[a-z0-9_]+)\(([a-z]+)\)[ \t]*")
# The aliases the statements give the tables a fragment filters: orchestration_metrics (m, o),
# orchdash.metric_facts (f), orchdash.log_facts (l), the rollups (t).
ALIASES = frozenset({"f", "l", "m", "o", "t"})
# What a fragment calls its rows: ``rows.<column>`` (never prose: a column name follows).
_ROWS = re.compile(r"\brows\.(?=[a-z_])")


class SqlFileError(RuntimeError):
    pass


@cache
def load(name: str) -> TextClause:
    """The statement in ``queries/sql/<name>.sql``, its fragments included, parameters checked."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", name):
        raise SqlFileError(f"bad SQL file name {name!r}")
    source = _read(name)
    statement = text(_INCLUDE.sub(lambda found: _included(name, found), source))
    _check(name, _declared(source), set(statement._bindparams))
    return statement


@cache
def fragment(name: str) -> str:
    """The conditions of the fragment ``queries/sql/<name>.sql`` (``name`` starts with ``_``),
    without its comment block, about rows called ``rows``; its parameters checked."""
    if not re.fullmatch(r"_[a-z0-9_]+", name):
        raise SqlFileError(f"bad fragment name {name!r}")
    source = _read(name)
    lines = source.rstrip("\n").split("\n")
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    body = "\n".join(lines).strip("\n")
    if _INCLUDE.search(source):
        raise SqlFileError(f"{name}.sql includes another fragment: fragments include nothing")
    if not body or not _ROWS.search(body):
        raise SqlFileError(f"{name}.sql has no condition on its rows (rows.<column>)")
    _check(name, _declared(source), set(text(body)._bindparams))
    return body


def names() -> list[str]:
    """The statements (fragments left out)."""
    return sorted(p.stem for p in SQL_DIR.glob("*.sql") if not p.stem.startswith("_"))


def fragments() -> list[str]:
    return sorted(p.stem for p in SQL_DIR.glob("_*.sql"))


def _read(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise SqlFileError(f"no SQL file {path.name} in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


def _declared(source: str) -> set[str]:
    found = _PARAMS.search(source)
    return {p.strip() for p in found.group(1).split(",") if p.strip()} if found else set()


def _check(name: str, declared: set[str], used: set[str]) -> None:
    if used != declared:
        raise SqlFileError(f"{name}.sql declares {sorted(declared)} but uses {sorted(used)}")


def _included(name: str, found: re.Match[str]) -> str:
    """The fragment that an include line names, indented as that line, about its alias."""
    indent, what = found.groups()
    parts = _INCLUDED.fullmatch(what)
    if parts is None:
        raise SqlFileError(f"{name}.sql: write an include as `-- include: _fragment(alias)`")
    fragment_name, alias = parts.groups()
    if alias not in ALIASES:
        raise SqlFileError(f"{name}.sql: {alias!r} is not an alias of {sorted(ALIASES)}")
    try:
        body = fragment(fragment_name)
    except SqlFileError as error:
        raise SqlFileError(f"{name}.sql includes {fragment_name}: {error}") from error
    lines = (_ROWS.sub(f"{alias}.", line) for line in body.split("\n"))
    return "\n".join(indent + line if line else line for line in lines)
