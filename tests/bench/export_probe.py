"""One CSV export in a process of its own, so that its peak memory is its own: run as
``python tests/bench/export_probe.py MODE APP_URL USER_ID START END`` with MODE ``export_csv``
(the query layer's streamed COPY) or ``pandas`` (``pd.read_sql`` of the same rows, then
``to_csv``). Prints one JSON line: rows, seconds, seconds to the first byte, bytes, and the growth
of the process's peak resident memory over what it held just before the export.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from typing import Any

import pandas as pd
import psutil
from sqlalchemy import text

import queries
from queries import Filters, engines, sqlfiles, transactions


class Sink:
    """A binary file that keeps nothing: counts bytes and notes when the first one came."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.bytes = 0

    def write(self, data: Any) -> int:
        if self.first is None and data:
            self.first = time.perf_counter() - self.started
        self.bytes += len(data)
        return len(data)

    def writable(self) -> bool:
        return True


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: that one keeps the
    parent's peak across fork and exec, so a child of a big pytest process reports the parent's."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(mode: str, url: str, user_id: str, start: str, end: str) -> dict[str, Any]:
    engine = engines.make_engine(url)
    scope = queries.scope_for_user(engine, user_id)
    f = Filters(start=date.fromisoformat(start), end=date.fromisoformat(end))
    before_mb = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    sink = Sink(started)
    if mode == "export_csv":
        rows = queries.export_csv(engine, scope, f, sink)
    else:
        # The usual way: every row into a DataFrame, then the DataFrame to CSV.
        statement = sqlfiles.load("metric_rows")
        params = queries.criteria.sql_params(scope, f) or {}
        params["row_limit"] = None
        bound = {key: params[key] for key in statement._bindparams}
        with transactions.scoped(engine, user_id, timeout_ms=3_600_000) as conn:
            frame = pd.read_sql(text(statement.text), conn, params=bound)
        sink.write(frame.to_csv(index=False).encode())
        rows = len(frame)
    seconds = time.perf_counter() - started
    peak_mb = _peak_mb()
    engine.dispose()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "first_byte_s": sink.first,
        "bytes": sink.bytes,
        "peak_growth_mb": max(peak_mb - before_mb, 0.0),
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])))
