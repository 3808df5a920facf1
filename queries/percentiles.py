"""Exact percentiles of stage durations from the duration rollups, as percentile_cont computes
them over the raw rows.

duration_histograms.sql answers per stage either the percentiles themselves (from the raw rows,
where the rollups do not serve) or the signed cumulative arrays whose sum is the period's coarse
histogram. Here the arrays are summed, each rank that percentile_cont reads (floor and ceil of
``p * (n - 1)``, from 0) is placed in its coarse bin, duration_ranks.sql reads the value at each
rank, and the two values around each fraction are interpolated with percentile_cont's formula.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

Percentiles = dict[int, list[float | None]]


@dataclass(frozen=True)
class Ranks:
    """The ranks to read (one entry per stage and distinct rank) and each stage's total."""

    totals: dict[int, int]
    stages: list[int]
    ranks: list[int]
    coarse: list[int]
    rank_in: list[int]

    def params(self) -> dict[str, Any]:
        return {
            "rank_stages": self.stages,
            "ranks": self.ranks,
            "rank_coarse": self.coarse,
            "rank_in": self.rank_in,
        }


def _bounds(total: int, p: float) -> tuple[int, int, float]:
    """percentile_cont's two ranks for fraction ``p`` of ``total`` values, and its position."""
    position = p * float(total - 1)
    return math.floor(position), math.ceil(position), position


def histograms(rows: Iterable[Any]) -> dict[int, tuple[int, np.ndarray]]:
    """Per stage, its coarse histogram ``(first bin, counts)`` summed from the signed arrays."""
    parts: dict[int, list[tuple[int, np.ndarray]]] = {}
    for r in rows:
        counts = np.asarray(r.counts, dtype=np.int64)
        parts.setdefault(r.stage_id, []).append((r.base, counts if r.sign > 0 else -counts))
    out: dict[int, tuple[int, np.ndarray]] = {}
    for stage, arrays in parts.items():
        first = min(base for base, _ in arrays)
        dense = np.zeros(max(base + len(a) for base, a in arrays) - first, dtype=np.int64)
        for base, a in arrays:
            dense[base - first : base - first + len(a)] += a
        out[stage] = (first, dense)
    return out


def ranks(hists: dict[int, tuple[int, np.ndarray]], fractions: Iterable[float]) -> Ranks:
    """Each rank percentile_cont reads at ``fractions``, placed in its coarse bin."""
    wanted = tuple(fractions)
    # Built here, then frozen: the caller only reads it.
    found = Ranks(totals={}, stages=[], ranks=[], coarse=[], rank_in=[])
    for stage in sorted(hists):
        first, counts = hists[stage]
        upto = np.cumsum(counts)
        total = int(upto[-1]) if len(upto) else 0
        if total <= 0:
            continue
        found.totals[stage] = total
        needed = sorted({rank for p in wanted for rank in _bounds(total, p)[:2]})
        # The first bin whose running count passes the rank holds it.
        at = np.searchsorted(upto, needed, side="right")
        for rank, i in zip(needed, at.tolist(), strict=True):
            found.stages.append(stage)
            found.ranks.append(rank)
            found.coarse.append(first + i)
            found.rank_in.append(rank - int(upto[i] - counts[i]))
    return found


def interpolated(
    totals: dict[int, int], values: Iterable[Any], fractions: Iterable[float]
) -> Percentiles:
    """Per stage, percentile_cont at ``fractions`` from the values at its ranks (rows of
    ``stage_id, rank, seconds``); None where a value is missing (it cannot be under RLS)."""
    at = {(v.stage_id, v.rank): v.seconds for v in values}
    wanted = tuple(fractions)
    out: Percentiles = {}
    for stage, total in totals.items():
        found: list[float | None] = []
        for p in wanted:
            lo_rank, hi_rank, position = _bounds(total, p)
            lo, hi = at.get((stage, lo_rank)), at.get((stage, hi_rank))
            if lo is None or (hi_rank > lo_rank and hi is None):
                found.append(None)
            elif hi_rank > lo_rank:
                found.append(lo + (hi - lo) * (position - float(lo_rank)))
            else:
                found.append(lo)
        out[stage] = found
    return out
