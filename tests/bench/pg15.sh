#!/usr/bin/env bash
# `make bench`'s second configuration: Debian's PostgreSQL 15 with initdb's defaults
# (shared_buffers 128 MB, as a small Supabase instance has; durability on), at 1,000,000 rows:
# the pages and the live table, written to docs/benchmarks-pg15.md (or ORCHDASH_BENCH_OUT).
set -euo pipefail
cd "$(dirname "$0")/../.."
url=$(PG15_DEFAULTS=1 PG15_DIR="${TMPDIR:-/tmp}/orchdash-bench-pg15" .ci/pg15 start)
trap 'PG15_DIR="${TMPDIR:-/tmp}/orchdash-bench-pg15" .ci/pg15 stop' EXIT
TEST_DATABASE_URL="$url" ORCHDASH_BENCH_ROWS="${ORCHDASH_BENCH_PG15_ROWS:-1000000}" \
    ORCHDASH_BENCH_OUT="${ORCHDASH_BENCH_OUT:-docs/benchmarks-pg15.md}" \
    .venv/bin/pytest -m bench -s -p no:cacheprovider tests/bench/test_bench.py -k "pages or live or report"
