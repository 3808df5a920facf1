"""queries/sqlfiles.py: every statement and fragment of queries/sql/ loads with its parameters
checked, statements take the shared filter conditions in from fragments written once, and a
fragment that is missing, an alias outside the list or a parameter left undeclared fails loudly
at load time. No database: loading is text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from queries import sqlfiles
from queries.sqlfiles import SqlFileError

SQL_DIR = sqlfiles.SQL_DIR
# The statements that read raw rows by the page's filters, and the fragments each takes in.
FILTERED = {
    "metric_rows": ("_period(m)", "_ventures_and_stages(m)", "_agents(m)"),
    "export_rows": ("_period(m)", "_ventures_and_stages(m)", "_agents(m)"),
    "totals": ("_period(f)", "_ventures_and_stages(f)", "_agents(f)", "_period(l)"),
    "venture_stage_totals": ("_period(f)", "_ventures_and_stages(f)", "_agents(f)"),
    "duration_histograms": ("_period(m)", "_ventures_and_stages(m)", "_agents(m)"),
    "agent_activity": ("_period(o)", "_ventures_and_stages(o)", "_agents(o)"),
    "health_medians": ("_period(m)", "_agents(m)"),
}


@pytest.fixture
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty queries/sql/ of its own, with the loader's caches cleared before and after."""
    monkeypatch.setattr(sqlfiles, "SQL_DIR", tmp_path)
    sqlfiles.load.cache_clear()
    sqlfiles.fragment.cache_clear()
    yield tmp_path
    sqlfiles.load.cache_clear()
    sqlfiles.fragment.cache_clear()


def write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.sql").write_text(text, encoding="utf-8")


CHOSEN = """-- The chosen stages.
-- params: stages
AND (cardinality(CAST(:stages AS integer[])) = 0
     OR rows.stage_id = ANY(CAST(:stages AS integer[])))
"""


@pytest.mark.parametrize("name", sqlfiles.names())
def test_every_statement_loads_with_its_parameters_checked(name: str) -> None:
    statement = sqlfiles.load(name)
    assert "-- include:" not in statement.text and not re.search(r"\brows\.[a-z_]", statement.text)


@pytest.mark.parametrize("name", sqlfiles.fragments())
def test_every_fragment_loads_with_its_parameters_checked(name: str) -> None:
    assert sqlfiles.fragment(name).startswith("AND ")


@pytest.mark.parametrize(("name", "included"), FILTERED.items())
def test_the_filtered_statements_take_their_conditions_from_the_fragments(
    name: str, included: tuple[str, ...]
) -> None:
    source = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    for include in included:
        assert f"-- include: {include}" in source


def test_each_condition_of_a_fragment_is_written_nowhere_else() -> None:
    """No statement spells out a fragment's condition again, whatever its alias and line breaks:
    a change to the agent filter, say, is one edit. (agent_activity.sql's rollup branch filters
    its lists by the same rule on another column, agents: the one condition written apart.)"""
    sources = {
        name: (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8") for name in sqlfiles.names()
    }
    for fragment in sqlfiles.fragments():
        for condition in re.split(r"\n(?=AND )", sqlfiles.fragment(fragment)):
            words = re.escape(" ".join(condition.split())).replace(r"\ ", r"\s+")
            pattern = words.replace(r"rows\.", r"\b[a-z]\.")
            for name, source in sources.items():
                assert not re.search(pattern, source), (fragment, name, condition)


def test_an_include_is_replaced_by_the_fragment_about_the_alias(sql_dir: Path) -> None:
    write(sql_dir, "_chosen", CHOSEN)
    write(
        sql_dir,
        "rows_of",
        """-- The rows of some stages.
-- params: company_ids, stages
SELECT m.metric_id
FROM orchestration_metrics AS m
WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
  -- include: _chosen(m)
ORDER BY 1
""",
    )
    statement = sqlfiles.load("rows_of")
    assert statement.text.endswith(
        """WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
  AND (cardinality(CAST(:stages AS integer[])) = 0
       OR m.stage_id = ANY(CAST(:stages AS integer[])))
ORDER BY 1
"""
    )
    # The fragment's values stay bound parameters.
    assert set(statement._bindparams) == {"company_ids", "stages"}


@pytest.mark.parametrize(
    ("include", "says"),
    [
        ("-- include: _missing(m)", "_missing.sql"),
        ("-- include: _chosen(x)", "'x' is not an alias"),
        ("-- include: _chosen(m); DROP TABLE companies", "write an include as"),
        ("-- include: _chosen", "write an include as"),
    ],
)
def test_a_bad_include_fails_loudly(sql_dir: Path, include: str, says: str) -> None:
    write(sql_dir, "_chosen", CHOSEN)
    write(sql_dir, "bad", f"-- params: stages\nSELECT 1 FROM t AS m WHERE true\n  {include}\n")
    with pytest.raises(SqlFileError, match=re.escape(says)):
        sqlfiles.load("bad")


def test_a_statement_declares_the_parameters_of_its_fragments(sql_dir: Path) -> None:
    write(sql_dir, "_chosen", CHOSEN)
    write(
        sql_dir,
        "undeclared",
        "-- params: \nSELECT 1 FROM t AS m WHERE true\n  -- include: _chosen(m)\n",
    )
    with pytest.raises(SqlFileError, match=r"declares \[\] but uses \['stages'\]"):
        sqlfiles.load("undeclared")


@pytest.mark.parametrize(
    ("fragment", "says"),
    [
        (
            "-- params: stages\nAND rows.stage_id = ANY(CAST(:stage AS integer[]))\n",
            "uses ['stage']",
        ),
        ("-- params: stages\nAND true\n", "no condition on its rows"),
        ("-- params: stages\n-- include: _other(m)\nAND rows.stage_id = :stages\n", "includes"),
    ],
)
def test_a_bad_fragment_fails_loudly(sql_dir: Path, fragment: str, says: str) -> None:
    write(sql_dir, "_chosen", fragment)
    write(
        sql_dir,
        "uses",
        "-- params: stages\nSELECT 1 FROM t AS m WHERE true\n  -- include: _chosen(m)\n",
    )
    with pytest.raises(SqlFileError, match=re.escape(says)):
        sqlfiles.load("uses")


def test_a_fragment_is_not_a_statement() -> None:
    with pytest.raises(SqlFileError, match="bad SQL file name"):
        sqlfiles.load("_agents")


def test_a_copy_statement_names_no_parameter_in_its_comments() -> None:
    """COPY takes no server-side parameters: psycopg merges the values into its text, comments
    included, where a value with a line break (the formula starts hold a CR) would end the
    comment and run as SQL."""
    for name in sqlfiles.names():
        source = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
        if re.search(r"^COPY\b", source, re.M):
            comments = re.findall(r"--.*$", source, re.M)
            assert not [c for c in comments if re.search(r"(?<![:\w]):[a-z_]", c)], name
