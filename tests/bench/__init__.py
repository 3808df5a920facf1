"""`make bench`: the performance figures of docs/performance.md (see test_bench.py)."""
