"""The documents against the code, without a database: every link and every path they name
exists (a test named ``file::test`` too), every `make` target they name is in the Makefile, the
README's configuration table lists every variable the code reads and its `orchdash` table every
command, and `make bench`'s writer (tests/bench/report.py) produces docs/benchmarks.md's layout,
proven on made-up results because the benchmark itself takes forty minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from datetime import date
from pathlib import Path

import pytest
from bench import report
from bench import scenarios as sc

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"
DOCS = [README, *sorted((PROJECT / "docs").glob("*.md"))]
# Files the documents name that a user creates, never the repository.
NOT_IN_THE_REPOSITORY = {".streamlit/secrets.toml"}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PATH = re.compile(
    r"(?<![\w/.-])((?:dashboard|queries|tests|docs|\.ci|\.streamlit)/[\w.*/-]*[\w*])(?:::(\w+))?"
)
FENCE = re.compile(r"^\s*```")


def ids(path: Path) -> str:
    return str(path.relative_to(PROJECT))


def outside_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    for line in outside_fences(path.read_text(encoding="utf-8")):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            n, unique = 0, slug
            while unique in found:
                n += 1
                unique = f"{slug}-{n}"
            found.add(unique)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_every_link_leads_to_a_file_and_heading_that_exist(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not this repository's
        name, _, anchor = target.partition("#")
        linked = (doc.parent / name).resolve() if name else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {ids(linked)}")
    assert broken == [], f"{ids(doc)} links to what does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_every_path_and_test_named_exists(doc: Path) -> None:
    missing = []
    for path, test in PATH.findall(doc.read_text(encoding="utf-8")):
        if path in NOT_IN_THE_REPOSITORY:
            continue
        found = sorted(PROJECT.glob(path)) if "*" in path else [PROJECT / path]
        if not any(p.exists() for p in found):
            missing.append(path)
        elif test and not re.search(rf"^\s*(async )?def {test}\(", found[0].read_text(), re.M):
            missing.append(f"{path}::{test}")
    # A module moved or renamed: update the document that names it.
    assert missing == [], f"{ids(doc)} names what does not exist"


def test_every_make_target_named_is_in_the_makefile() -> None:
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.M))
    assert {"run", "test", "lint", "bench"} <= targets
    named = {
        (ids(doc), target)
        for doc in DOCS
        for target in re.findall(r"(?:`|^)make ([a-z][\w-]*)", doc.read_text(), re.M)
    }
    assert named and {(doc, t) for doc, t in named if t not in targets} == set()


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def read_by_the_code() -> set[str]:
    """Every environment variable the app reads: its ORCHDASH_ settings and the others by name."""
    names: set[str] = set()
    for folder in ("dashboard", "queries"):
        for path in (PROJECT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"\bORCHDASH_[A-Z0-9_]+\b", source))
            names |= set(re.findall(r"environ(?:\.get)?[(\[]\s*\"([A-Z][A-Z0-9_]+)\"", source))
    return names


def test_the_configuration_table_lists_every_variable_the_app_reads() -> None:
    table = section(README.read_text(encoding="utf-8"), "Configuration")
    read = read_by_the_code()
    assert {"DATABASE_URL", "ORCHDASH_ADMIN_DATABASE_URL", "STREAMLIT_SERVER_PORT"} <= read
    assert {name for name in read if f"`{name}`" not in table} == set()


def test_every_orchdash_variable_named_exists() -> None:
    """A variable named in a document is read somewhere: by the app, a migration or the tests."""
    sources = " ".join(
        p.read_text(encoding="utf-8")
        for folder in ("dashboard", "queries", "tests", ".ci")
        for p in (PROJECT / folder).rglob("*")
        if p.is_file() and p.suffix in ("", ".py", ".sql", ".sh")
    ) + (PROJECT / "Makefile").read_text(encoding="utf-8")
    named = {
        (ids(doc), name)
        for doc in DOCS
        for name in re.findall(r"\bORCHDASH_[A-Z0-9_]+\b", doc.read_text(encoding="utf-8"))
    }
    assert {(doc, name) for doc, name in named if name not in sources} == set()


def test_the_command_table_lists_every_orchdash_command() -> None:
    from dashboard import cli

    [commands] = [
        a.choices for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    table = section(README.read_text(encoding="utf-8"), "The `orchdash` command")
    assert re.findall(r"^\| `orchdash (\w+)", table, re.M) == list(commands)


def test_every_screenshot_is_shown_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    shots = sorted((PROJECT / "docs" / "screenshots").glob("*.png"))
    assert shots and [s.name for s in shots if f"(docs/screenshots/{s.name})" not in text] == []


def test_the_layout_section_is_marked_for_whoever_moves_modules() -> None:
    text = (PROJECT / "docs" / "contributing.md").read_text(encoding="utf-8")
    assert "## Where things are\n\n<!-- layout: updated with the code -->\n" in text


# ---- docs/benchmarks.md, as make bench writes it ----------------------------------------------

SMALL, BIG = 1_000_000, 10_000_000
PAUSES = ("reading 1-5 s between pages", "no pause (saturation)")


def made_up_results() -> report.Results:
    r = report.Results()
    r.loads = {SMALL: 30.0, BIG: 313.0}
    for rows in (SMALL, BIG):
        for page in sc.PAGES:
            for period in sc.PERIODS:
                for mode in ("cold", "warm", "naive"):
                    r.pages[(rows, page, period, mode)] = [0.05 + 0.001 * n for n in range(20)]
        r.sizes[rows] = {"orchestration_metrics": rows * 600, "metric_totals": rows * 20}
    r.timeouts[(BIG, "Stage durations", "all time")] = 1
    r.checked = [f"{BIG:,} rows, 90 days"] * 3
    r.export = {
        "export_csv 1,000,000": {
            "rows": 1_020_904,
            "seconds": 4.4,
            "first_byte_s": 0.01,
            "peak_growth_mb": 1,
        },
        "pandas 1,000,000": {
            "rows": 1_020_904,
            "seconds": 59.0,
            "first_byte_s": 59.01,
            "peak_growth_mb": 3500,
        },
    }
    for pause in PAUSES:
        r.concurrent[pause] = {
            "users": 20,
            "seconds": 64.0,
            "pages": 377,
            "latencies": {page: [0.08, 0.1, 0.3] for page in sc.PAGES},
            "outside": [],
            "errors": [],
        }
    r.inserts = {
        "rows/s without rollup": 20_206,
        "rows/s with rollup": 16_956,
        "cost": 0.19,
        "fold s": 2.37,
        "fold share": 0.48,
        "seconds until shown": 0.02,
        "Overview with a day not yet folded (s)": 0.103,
    }
    r.browser = {
        "sign_in": [1.64, 1.77, 1.5],
        "period": [0.87, 1.3, 0.8],
        "sign_in_run": [1.2, 1.4, 1.1],
        "period_run": [0.6, 0.9, 0.5],
    }
    add_made_up_live(r, (SMALL, BIG))
    r.writers = {
        label: [{"trickle ticks": 300 + n, "trickle seconds": 45.0, "vacuums": {}} for n in (0, 1)]
        for label in (MIGRATED_AUTOVACUUM, "the server's defaults")
    }
    return r


# The metrics table's storage parameters as migration f07 leaves them (the bench reads them).
MIGRATED_AUTOVACUUM = "the migration's (f07): " + ", ".join(
    (
        "autovacuum_vacuum_scale_factor=0.01",
        "autovacuum_vacuum_insert_scale_factor=0.01",
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_cost_limit=1000",
    )
)


def add_made_up_live(r: report.Results, scales: tuple[int, ...]) -> None:
    for rows in scales:
        for state in ("vacuumed", "during the trickle", "after the burst"):
            for page in sc.PAGES:
                for period in sc.LIVE_PERIODS:
                    r.live[(rows, state, page, period)] = [0.05 + 0.002 * n for n in range(60)]
        r.live_notes[rows] = {
            "settings": {"shared_buffers": "524288"},
            "autovacuum": MIGRATED_AUTOVACUUM,
            "update 15 % of the last 100 days": 7.8,
            "vacuums": {"after the burst": {"orchestration_metrics": 15.0}},
        }


RUN = report.Run(
    day=date(2026, 12, 3),
    commit="0123abc",
    minutes=36.4,
    settings=report.settings((SMALL, BIG), 20, 60),
    cores=2,
    memory_gb=23.5,
    machine="x86_64",
    python="3.11.7",
)


def skeleton(text: str) -> list[str]:
    """The layout: headings and each table's header row, with figures made '#'."""
    lines = text.splitlines()
    kept = [
        line
        for i, line in enumerate(lines)
        if line.startswith("#")
        or (line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"))
    ]
    return [re.sub(r"\d+", "#", line) for line in kept]


def table(text: str, header_starts: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_starts))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_bench_writes_a_header_then_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    text = report.write(out, RUN, report.render(made_up_results(), SMALL, BIG))
    assert out.read_text(encoding="utf-8") == text
    lines = text.splitlines()
    assert lines[:3] == ["# Benchmarks", "", report.GENERATED]
    assert lines[4] == (
        "Written by `make bench` on 2026-12-03 at commit `0123abc`, in one run of 36 minutes "
        "(1M and 10M rows, 20 filters per page and period, 60 s per concurrent run; the security "
        "suite's load test, which `make bench` runs next, is not included), on a machine of "
        "2 cores, 23.5 GB of memory (x86_64, Python 3.11.7)."
    )
    assert [line for line in lines if line.startswith("#")] == [
        "# Benchmarks",
        "## Pages: ms for all of a page's query calls, as the demo chairman (3 of 6 companies)",
        "## Sizes (with their indexes; the table's includes ours)",
        "## Export (10M rows database, a user of all six companies)",
        "## 20 concurrent users, reading 1-5 s between pages (threads, mixed users and filters)"
        " for 64 s, 10M rows",
        "## 20 concurrent users, no pause (saturation) (threads, mixed users and filters)"
        " for 64 s, 10M rows",
        "## Inserts (10M rows; 100 statements of 1,000 rows, each committed)",
        "## Chromium (10M rows, `orchdash run`)",
        f"## The live table, 1M rows (issue #17; autovacuum: {MIGRATED_AUTOVACUUM})",
        f"## The live table, 10M rows (issue #17; autovacuum: {MIGRATED_AUTOVACUUM})",
        "## Writers with either autovacuum setting (as fast as they go: each transaction 1,000"
        " rows inserted and 1,000 updated, the log folded every 10 s; the settings alternate)",
    ]
    live = table(text, "| Page | Period | vacuumed")
    assert [row[:2] for row in live] == [[p, q] for p in sc.PAGES for q in sc.LIVE_PERIODS]
    assert live[0][2:] == ["60, 108 / 162 / 168"] * 3 + ["yes"]  # n, p50 / p95 / max
    assert [row[0] for row in table(text, "| Autovacuum |")] == [
        MIGRATED_AUTOVACUUM,
        "the server's defaults",
    ]
    pages = table(text, "| Page | Period | 1M cold")
    assert [row[:2] for row in pages] == [[p, q] for p in sc.PAGES for q in sc.PERIODS]
    assert {len(row) for row in pages} == {11}
    by_page = {(row[0], row[1]): row for row in pages}
    assert by_page[("Overview", "90 days")][2] == "59 / 68"  # nearest rank of 50..69 ms
    assert by_page[("Stage durations", "all time")][4] == "59 / 68 (1 timed out)"
    assert by_page[("Stage durations", "all time")][7] == "**no**"  # a timeout misses
    assert table(text, "| Relation |") == [
        ["`orchestration_metrics`", "572 MB", "5,722 MB"],
        ["`metric_totals`", "19 MB", "191 MB"],
    ]
    assert [row[0] for row in table(text, "| What | rows |")] == [
        "export_csv 1,000,000",
        "pandas 1,000,000",
    ]
    assert [row[0] for row in table(text, "| Page | pages |")] == sorted(sc.PAGES)
    assert lines[-1].startswith("The query layer's figures equal the naive ones")
    assert (
        "- of which the run's elements in place (the rest: the code of components drawn for the "
        "first time): after `Sign in` p50 1.20 s, max 1.40 s; after a Period change p50 0.60 s, "
        "max 0.90 s"
    ) in lines


def test_the_committed_document_has_the_writers_layout() -> None:
    committed = (PROJECT / report.DOCUMENT).read_text(encoding="utf-8")
    written = "\n".join(report.header(RUN)) + "\n" + report.render(made_up_results(), SMALL, BIG)
    assert skeleton(committed) == skeleton(written)
    assert committed.splitlines()[2] == report.GENERATED
    assert re.match(
        r"Written by `make bench` on \d{4}-\d\d-\d\d at commit `[0-9a-f]{7,}[^`]*`, in one run of"
        r" \d+ minutes \(.+\), on a machine of \d+ cores, (\d+\.\d GB of memory|memory not"
        r" recorded) \(.+\)\.$",
        committed.splitlines()[4],
    )


def test_the_committed_postgresql_15_document_has_the_writers_layout() -> None:
    """`make bench`'s second configuration (tests/bench/pg15.sh): pages and the live table at
    one scale, on PostgreSQL 15 with initdb's defaults."""
    committed = (PROJECT / "docs" / "benchmarks-pg15.md").read_text(encoding="utf-8")
    r = report.Results()
    r.loads = {SMALL: 30.0}
    for page in sc.PAGES:
        for period in sc.PERIODS:
            for mode in ("cold", "warm", "naive"):
                r.pages[(SMALL, page, period, mode)] = [0.05 + 0.001 * n for n in range(20)]
    r.sizes[SMALL] = {"orchestration_metrics": SMALL * 600, "metric_totals": SMALL * 20}
    # `-k "pages or live or report"` also picks the concurrent run "reading 1-5 s between pages".
    reading = next(pause for pause in PAUSES if "pages" in pause)
    r.concurrent[reading] = made_up_results().concurrent[reading]
    add_made_up_live(r, (SMALL,))
    written = "\n".join(report.header(RUN)) + "\n" + report.render(r, SMALL, SMALL)
    assert skeleton(committed) == skeleton(written)
    assert "PostgreSQL 15" in committed.splitlines()[4]


def test_the_run_is_this_machine_and_checkout() -> None:
    run = report.this_run(time.perf_counter() - 120, PROJECT, "trial")
    assert run.cores == os.cpu_count() and run.day == date.today()
    assert run.minutes == pytest.approx(2, abs=0.5)
    assert re.fullmatch(r"([0-9a-f]{7,}( with uncommitted changes)?|unknown)", run.commit)
    assert run.memory_gb is None or run.memory_gb > 0


def test_a_trial_run_leaves_the_document_alone() -> None:
    assert report.destination(PROJECT, {}) == PROJECT / "docs" / "benchmarks.md"
    trial = {"ORCHDASH_BENCH_ROWS": "100000,200000"}
    assert report.destination(PROJECT, trial) == PROJECT / "test-artifacts" / "bench.md"
    chosen = {**trial, "ORCHDASH_BENCH_OUT": "/tmp/figures.md"}
    assert report.destination(PROJECT, chosen) == Path("/tmp/figures.md")
