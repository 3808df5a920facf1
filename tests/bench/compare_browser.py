"""The browser figures of two commits side by side, in one run: `Sign in` to the Overview drawn
and Period changes, as tests/bench/browser.py measures them.

    .venv/bin/python tests/bench/compare_browser.py BASE [--rows N] [--rounds R]

BASE (a commit) is checked out in a temporary worktree. Each round starts one `orchdash run` of
each commit on its own embedded database with the same demo rows (fresh after its load, as
`make run` leaves it), measures them one after the other, in alternating order, then stops both.
Prints each round and the p50 and max of each figure. Used for docs/performance.md's "Filter
change"; a trial, not part of `make bench`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "e2e")]

from harness import CHAIRMAN, PROJECT_DIR, AppServer, demo_password, stop_postmaster  # noqa: E402

from bench.browser import measure  # noqa: E402

FIGURES = ("sign_in", "period")


def compare(base: Path, rows: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    projects = {"base": base, "this": PROJECT_DIR}
    results: dict[str, dict[str, list[float]]] = {n: {f: [] for f in FIGURES} for n in projects}
    for number in range(rounds):
        servers = {
            name: AppServer(
                Path(tempfile.mkdtemp(prefix=f"orchdash-compare-{name}-")),
                {"ORCHDASH_DEMO_ROWS": str(rows)},
                project=project,
            )
            for name, project in projects.items()
        }
        try:
            for server in servers.values():
                server.start()
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for name in order:
                figures = measure(servers[name].url, [(CHAIRMAN, demo_password(CHAIRMAN))], 3)
                for figure in FIGURES:
                    results[name][figure] += figures[figure]
                shown = {f: [round(s, 2) for s in figures[f]] for f in FIGURES}
                print(f"round {number + 1}, {name}: {shown}", flush=True)
        finally:
            for server in servers.values():
                server.stop()
                stop_postmaster(server.data_dir / "pgdata")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the commit to compare this checkout with")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    worktree = Path(tempfile.mkdtemp(prefix="orchdash-base-"))
    git = ["git", "-C", str(PROJECT_DIR)]
    subprocess.run([*git, "worktree", "add", "--detach", str(worktree), args.base], check=True)
    try:
        results = compare(worktree, args.rows, args.rounds)
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(worktree)], check=True)
    for name, figures in results.items():
        for figure, seconds in figures.items():
            p50, most = statistics.median(seconds), max(seconds)
            print(f"{name} {figure}: p50 {p50:.2f} s, max {most:.2f} s")


if __name__ == "__main__":
    main()
