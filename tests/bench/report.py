"""The benchmark's table, in Markdown, each figure beside its target (docs/performance.md)."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from datetime import date
from typing import Any

from bench import scenarios as sc

TARGET_P95_MS = {"90 days": 200, "all time": 500}
NAIVE_FACTOR = 50
SCALE_FACTOR = 1.5
EXPORT_RATE, EXPORT_FIRST_BYTE_S, EXPORT_GROWTH_MB = 250_000, 0.5, 64
CONCURRENT_P95_MS = 500
INSERT_COST, FRESH_S = 0.20, 60
SIGN_IN_S, CHANGE_S = 3, 1


def _rows(n: int) -> str:
    return f"{n / 1e6:g}M"


def render(
    r: Any,
    small: int,
    big: int,
    p: Callable[[list[float], float], float],
    ms: Callable[[float], str],
    mark: Callable[[bool | None], str],
) -> str:
    out = [
        f"Benchmark of {date.today().isoformat()} on {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}).",
        "",
        "Loading the demo rows (`load_demo`: COPY, indexes, rollup rebuild): "
        + ", ".join(f"{_rows(n)} rows in {s:,.0f} s" for n, s in sorted(r.loads.items())),
        "",
        "### Pages: ms for all of a page's query calls, as the demo chairman (3 of 6 companies)",
        "",
        "p50 / p95 over varied filters; cold: a new connection and filters not asked before; "
        "warm: the same again. Targets at the larger scale.",
        "",
        f"| Page | Period | {_rows(small)} cold | {_rows(small)} warm | {_rows(big)} cold "
        f"| {_rows(big)} warm | p95 target | met | {_rows(big)}/{_rows(small)} p95 (≤ "
        f"{SCALE_FACTOR}) | naive {_rows(big)} p50 | times faster (≥ {NAIVE_FACTOR} all time) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for page in sc.PAGES:
        for period in sc.PERIODS:
            cells = []
            for rows in (small, big):
                for mode in ("cold", "warm"):
                    runs = r.pages.get((rows, page, period, mode), [])
                    timeouts = r.timeouts.get((rows, page, period), 0)
                    cell = f"{ms(p(runs, 0.5))} / {ms(p(runs, 0.95))}"
                    if timeouts:
                        cell += f" ({timeouts} timed out)"
                    cells.append(cell)
            cold_big = r.pages.get((big, page, period, "cold"), [])
            cold_small = r.pages.get((small, page, period, "cold"), [])
            target = TARGET_P95_MS[period]
            timed_out = r.timeouts.get((big, page, period), 0) > 0
            met = None if not cold_big else (p(cold_big, 0.95) <= target and not timed_out)
            ratio = p(cold_big, 0.95) / p(cold_small, 0.95) if cold_small and cold_big else None
            naive_runs = r.pages.get((big, page, period, "naive"), [])
            faster = (
                p(naive_runs, 0.5) / p(cold_big[: len(naive_runs)], 0.5) if naive_runs else None
            )
            cells += [
                f"{target}",
                mark(met),
                "-" if ratio is None else f"{ratio:.2f} {mark(ratio <= SCALE_FACTOR)}",
                ms(p(naive_runs, 0.5)),
                "-"
                if faster is None
                else f"{faster:,.0f}×"
                + (f" {mark(faster >= NAIVE_FACTOR)}" if period == "all time" else ""),
            ]
            out.append(f"| {page} | {period} | " + " | ".join(cells) + " |")
    if r.sizes:
        out += [
            "",
            "### Sizes (with their indexes; the table's includes ours)",
            "",
            "| Relation | " + " | ".join(_rows(n) for n in sorted(r.sizes)) + " |",
            "|---|" + "---|" * len(r.sizes),
        ]
        names = list(r.sizes[max(r.sizes)])
        for name in names:
            out.append(
                f"| `{name}` | "
                + " | ".join(f"{r.sizes[n].get(name, 0) / 2**20:,.0f} MB" for n in sorted(r.sizes))
                + " |"
            )
    out += ["", f"### Export ({_rows(big)} rows database, a user of all six companies)", ""]
    out += [
        f"| What | rows | rows/s (≥ {EXPORT_RATE:,}) | first byte, s (≤ {EXPORT_FIRST_BYTE_S}) "
        f"| peak memory growth, MB (≤ {EXPORT_GROWTH_MB}) |",
        "|---|---|---|---|---|",
    ]
    for what, e in r.export.items():
        rate = e["rows"] / e["seconds"] if e["seconds"] else float("nan")
        ours = what.startswith("export_csv")
        first = e["first_byte_s"] if e["first_byte_s"] is not None else float("nan")
        out.append(
            f"| {what} | {e['rows']:,} | {rate:,.0f} {mark(rate >= EXPORT_RATE) if ours else ''}"
            f" | {first:.2f} {mark(first <= EXPORT_FIRST_BYTE_S) if ours else ''}"
            f" | {e['peak_growth_mb']:,.0f} "
            f"{mark(e['peak_growth_mb'] <= EXPORT_GROWTH_MB) if ours else ''} |"
        )
    for pause, c in r.concurrent.items():
        out += [
            "",
            f"### {c['users']} concurrent users, {pause} (threads, mixed users and "
            f"filters) for {c['seconds']:.0f} s, {_rows(big)} rows",
            "",
            f"{c['pages']:,} pages, {c['pages'] / c['seconds']:.1f} pages/s; answers outside "
            f"their user's scope: {len(c['outside'])} {mark(not c['outside'])}; errors: "
            f"{len(c['errors'])}.",
            "",
            f"| Page | pages | p50 ms | p95 ms (≤ {CONCURRENT_P95_MS}) |",
            "|---|---|---|---|",
        ]
        for page, runs in sorted(c["latencies"].items()):
            out.append(
                f"| {page} | {len(runs)} | {ms(p(runs, 0.5))} | {ms(p(runs, 0.95))} "
                f"{mark(p(runs, 0.95) <= CONCURRENT_P95_MS)} |"
            )
        out += [f"- error: {e}" for e in c["errors"][:5]]
    i = r.inserts
    if i:
        out += [
            "",
            f"### Inserts ({_rows(big)} rows; 100 statements of 1,000 rows, each committed)",
            "",
            f"- writers without the rollup's triggers: {i['rows/s without rollup']:,.0f} rows/s; "
            f"with them (each statement appends its rows to the log): "
            f"{i['rows/s with rollup']:,.0f} rows/s: the rollup costs the writers "
            f"{100 * i['cost']:.0f} % (≤ {100 * INSERT_COST:.0f} %) "
            f"{mark(i['cost'] <= INSERT_COST)}",
            f"- folding those 100,000 changes into the rollups (scheduled, off the writers' "
            f"path): {i['fold s']:.2f} s, {100 * i['fold share']:.0f} % of the inserts' time",
            f"- a committed row shows in the next query: after {i['seconds until shown']:.2f} s "
            f"(≤ {FRESH_S}) {mark(i['seconds until shown'] <= FRESH_S)}; the Overview with "
            f"unfolded changes of today: "
            f"{1000 * i['Overview with a day not yet folded (s)']:,.0f} ms",
        ]
    b = r.browser
    if b:
        out += [
            "",
            f"### Chromium ({_rows(big)} rows, `orchdash run`)",
            "",
            f"- `Sign in` to the Overview drawn: p50 {p(b['sign_in'], 0.5) / 1000:.2f} s, max "
            f"{max(b['sign_in']):.2f} s (≤ {SIGN_IN_S}) {mark(max(b['sign_in']) <= SIGN_IN_S)}",
            f"- a Period change to the page drawn again: p50 {p(b['period'], 0.5) / 1000:.2f} s,"
            f" max {max(b['period']):.2f} s (≤ {CHANGE_S}) {mark(max(b['period']) <= CHANGE_S)}",
        ]
    if r.checked:
        counts: dict[str, int] = {}
        for line in r.checked:
            counts[line] = counts.get(line, 0) + 1
        out += [
            "",
            "The query layer's figures equal the naive ones, frame by frame, on every run of the "
            "baseline: " + "; ".join(f"{k} ({n} pages)" for k, n in counts.items()) + ".",
        ]
    return "\n".join(out)
