"""make lint's boundaries (pyproject.toml, [tool.importlinter]): kept by the tree, and broken by a
violation planted in a copy of it, one per contract.

The copy is checked exactly as the real tree is (lint-imports in its folder, which comes first on
the path). Charts may read queries' settings through the public API, which no contract can
narrow to names: test_charts_read_settings_only does.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# What dashboard/charts may import from queries: settings and the spreadsheet rule of CSV cells,
# never a query.
CHARTS_FROM_QUERIES = {"default_threshold", "safe_cell"}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("dashboard", "queries"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("queries/criteria.py", "import streamlit", "queries never imports the dashboard"),
        ("queries/rows.py", "from dashboard.charts import format", "queries never imports"),
        (
            "dashboard/app_pages/agent_activity.py",
            "import queries.transactions",
            "public API of queries only",
        ),
        (
            "dashboard/ui/data.py",
            "from queries.rows import metric_rows",
            "public API of queries only",
        ),
        ("dashboard/charts/rates.py", "import sqlalchemy", "Charts never fetch"),
        ("dashboard/charts/theme.py", "from dashboard.ui import data", "Charts never fetch"),
        ("dashboard/web/tokens.py", "from dashboard.ui import layout", "Layers"),
        ("dashboard/ui/sidebar.py", "from dashboard.app_pages import rates", "Layers"),
        ("queries/migrations/versions/f01_base.py", "from queries import criteria", "Migrations"),
        ("queries/migrations/env.py", "import queries", "Migrations"),
    ],
)
def test_a_planted_violation_fails(tree: Path, module: str, line: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # planted\n")
    done = lint_imports(tree)
    assert done.returncode != 0, done.stdout
    broken = [row for row in done.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), done.stdout


def test_charts_read_settings_only() -> None:
    for path in sorted((ROOT / "dashboard" / "charts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "queries" for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.module == "queries":
                names = {a.name for a in node.names}
                assert names <= CHARTS_FROM_QUERIES, (path, names - CHARTS_FROM_QUERIES)


def test_no_module_name_repeats_across_dashboard_and_queries() -> None:
    """A name means one thing: dashboard/ and queries/ share no module name (``__init__`` aside)."""

    def names(package: str) -> set[str]:
        return {p.name for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py"}

    assert names("dashboard") & names("queries") == set()
