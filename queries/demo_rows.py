"""The demo's orchestration_metrics rows: drawn for a world of ``queries.demo_data``, in time
order, one chunk (a pyarrow table) per time window of about the same number of rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from functools import cache

import numpy as np
import pyarrow as pa

from queries.demo_data import (
    AGENT_BIT,
    AGENTS,
    SECOND_US,
    SPAN_DAYS,
    STAGES,
    World,
    demo_world,
    hex_ids,
    incident_bump,
    incident_number,
    random_bytes,
)

NULL_SHARE = 0.005  # per nullable measure
ZERO_ACTION_SHARE = 0.01

# UTC without a zone: pyarrow writes these to CSV some twenty times faster than zoned ones; the
# loader reads them in UTC.
_TIMESTAMP = pa.timestamp("us")


def _time_ordered_ids(rng: np.random.Generator, micros: np.ndarray) -> pa.Array:
    """UUIDv7 (RFC 9562): the millisecond first, so rows loaded in time order append to the
    primary key's index instead of scattering over it."""
    raw = random_bytes(rng, len(micros))
    millis = (micros // 1000).astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, :6] = millis[:, 2:]
    return _string_array(hex_ids(raw, 7))


def _string_array(fixed: np.ndarray) -> pa.Array:
    """A pyarrow string array over numpy fixed-width bytes, without a Python object per item."""
    width = fixed.dtype.itemsize
    offsets = np.arange(0, width * (len(fixed) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(fixed), pa.py_buffer(offsets), pa.py_buffer(fixed.tobytes())
    )


def generate_rows(
    rows: int = 200_000, seed: int = 42, end: dt.date | None = None
) -> Iterator[pa.Table]:
    """The orchestration_metrics rows, oldest first, in chunks of about CHUNK_ROWS."""
    return metric_chunks(demo_world(rows, seed, end))


def metric_chunks(world: World) -> Iterator[pa.Table]:
    """One chunk per time window; the windows hold about the same number of rows."""
    edges = _window_edges(world, len(world.chunk_streams))
    left = world.session_rows.copy()
    orphans_left = world.orphan_rows
    for lo, hi, stream in zip(edges, edges[1:], world.chunk_streams, strict=False):
        rng = np.random.default_rng(stream)
        # A session's remaining rows fall uniformly over its remaining time: this window takes
        # the binomial share of them that its overlap is of that time.
        start = np.maximum(world.session_start, lo)
        overlap = np.clip(np.minimum(world.session_end, hi) - start, 0, None)
        remaining = world.session_end - start
        share = np.divide(overlap, remaining, out=np.zeros_like(overlap), where=remaining > 0)
        taken = rng.binomial(left, share if hi < SPAN_DAYS else (left > 0).astype(float))
        left -= taken
        orphans = int(rng.binomial(orphans_left, (hi - lo) / (SPAN_DAYS - lo)))
        orphans_left -= orphans
        session = np.repeat(np.arange(len(taken)), taken)
        day = start[session] + rng.random(len(session)) * overlap[session]
        session = np.concatenate([session, np.full(orphans, -1)])
        day = np.concatenate([day, lo + rng.random(orphans) * (hi - lo)])
        order = np.argsort(day, kind="stable")
        yield _metric_chunk(world, rng, session[order], day[order])


def _window_edges(world: World, windows: int) -> list[float]:
    """Days that cut the span into windows of equal expected rows.

    The expected rows before a day is piecewise linear (each session spreads its rows evenly
    over its time), so inverting it at its breakpoints is exact.
    """
    rate = world.session_rows / (world.session_end - world.session_start)

    def ramp(edges: np.ndarray, at: np.ndarray) -> np.ndarray:
        order = np.argsort(edges)
        sorted_edges, sorted_rate = edges[order], rate[order]
        before = np.searchsorted(sorted_edges, at, side="right")
        rate_sum = np.concatenate([[0.0], np.cumsum(sorted_rate)])
        moment = np.concatenate([[0.0], np.cumsum(sorted_rate * sorted_edges)])
        return at * rate_sum[before] - moment[before]

    at = np.unique(np.concatenate([[0.0, SPAN_DAYS], world.session_start, world.session_end]))
    expected = ramp(world.session_start, at) - ramp(world.session_end, at)
    expected += world.orphan_rows * at / SPAN_DAYS
    targets = expected[-1] * np.arange(1, windows) / windows
    return [0.0, *np.interp(targets, expected, at).tolist(), float(SPAN_DAYS)]


def _metric_chunk(
    world: World, rng: np.random.Generator, session: np.ndarray, day: np.ndarray
) -> pa.Table:
    n = len(session)
    orphan = session < 0
    known = np.where(orphan, 0, session)
    venture = np.where(orphan, -1, world.session_venture[known])
    at = (day - world.session_start[known]) / (
        world.session_end[known] - world.session_start[known]
    )
    stage = world.session_first_stage[known] + np.floor(
        np.clip(at, 0, 0.999999) * world.session_stages[known]
    ).astype(np.int64)
    stage = np.where(orphan, rng.integers(1, 41, n), stage)
    recorded_us = world.micros(day)

    error = np.where(orphan, 0.03, world.venture_base_error[venture]) * STAGES.error_mult[
        stage
    ] * np.exp(world.venture_slope[venture] * (day / SPAN_DAYS - 0.5)) * (
        1 + 1.5 * np.exp(-np.maximum(day - world.venture_launch[venture], 0) / 30)
    ) * rng.lognormal(0.0, 0.35, n) + incident_bump(world.incidents, venture, day)
    error = np.round(np.clip(error, 0.0, 0.95), 4)

    actions = rng.poisson(STAGES.actions[stage] * rng.lognormal(0.0, 0.3, n))
    actions = np.where(rng.random(n) < ZERO_ACTION_SHARE, 0, np.maximum(actions, 1))
    # Stochastic rounding: failures average error x actions and stay within one of it.
    failures = np.minimum(np.floor(error * actions + rng.random(n)), actions).astype(np.int64)
    interventions = rng.poisson(0.01 + 5.0 * error**1.5 + 0.15 * STAGES.gate[stage])
    approvals = rng.binomial(interventions, np.clip(0.9 - 1.6 * error, 0.15, 0.95))
    rejections = rng.binomial(interventions - approvals, 0.7)
    api_calls = rng.poisson(actions * (2.0 + 3.0 * STAGES.error_mult[stage]) * (1 + error))
    cost = actions * STAGES.cost[stage] * rng.lognormal(0.0, 0.25, n) + api_calls * 0.0015
    quality = np.where(orphan, 85.0, world.venture_quality[venture])
    quality = quality - 110 * error + rng.normal(0.0, 6.0, n)
    confidence = quality - 6 + rng.normal(0.0, 8.0, n)
    duration_s = np.maximum(
        np.round(
            STAGES.median_s[stage] * rng.lognormal(0.0, STAGES.sigma[stage]) * (1 + 2 * error)
        ),
        1,
    )
    agents = STAGES.agents[stage] | np.where(
        rng.random(n) < 0.3, 1 << rng.integers(0, len(AGENTS), n), 0
    )
    period_end_us = recorded_us - rng.integers(0, 120 * SECOND_US, n)
    incident = np.where(orphan, 0, incident_number(world.incidents, venture, day))

    def ids(per_session: pa.Array) -> pa.Array:
        return per_session.take(pa.array(known, mask=orphan))

    def nullable(
        values: np.ndarray, decimals: int, undefined: np.ndarray | bool = False
    ) -> pa.Array:
        missing = (rng.random(n) < NULL_SHARE) | undefined
        return pa.array(np.round(values, decimals), mask=missing)

    def ints(values: np.ndarray) -> pa.Array:
        return pa.array(values.astype(np.int32))

    columns: dict[str, pa.Array] = {
        "metric_id": _time_ordered_ids(rng, recorded_us),
        "session_id": ids(world.session_id_array),
        "company_id": ids(world.session_company),
        "venture_id": ids(world.session_venture_id),
        "stage_id": ints(stage),
        "stage_duration": nullable(duration_s, 0),  # intervals as seconds
        "handoff_efficiency": nullable(
            np.clip(98.5 - 160 * error + rng.normal(0.0, 2.5, n), 0, 100), 2
        ),
        "error_rate": nullable(error, 4, undefined=actions == 0),  # errors per action
        "action_count": ints(actions),
        "success_count": ints(actions - failures),
        "failure_count": ints(failures),
        "agent_response_time": nullable(
            STAGES.response_s[stage] * rng.lognormal(0.0, 0.5, n) * (1 + 4 * error), 3
        ),
        "agent_utilization": nullable(np.clip(100 * rng.beta(6, 3, n) + 30 * error, 0, 100), 2),
        "agents_involved": _agent_arrays().take(pa.array(agents)),
        "chairman_interventions": ints(interventions),
        "chairman_approvals": ints(approvals),
        "chairman_rejections": ints(rejections),
        "compute_cost": nullable(cost, 2),
        "api_calls_made": ints(api_calls),
        "data_quality_score": nullable(np.clip(quality, 0, 100), 2),
        "confidence_score": nullable(np.clip(confidence, 0, 100), 2),
        "recorded_at": pa.array(recorded_us, type=_TIMESTAMP),
        "metric_period_start": pa.array(
            period_end_us - duration_s.astype(np.int64) * SECOND_US, type=_TIMESTAMP
        ),
        "metric_period_end": pa.array(period_end_us, type=_TIMESTAMP),
        "metadata": _metadata(len(world.incidents)).take(pa.array(incident)),
    }
    return pa.table(columns)


@cache
def _agent_arrays() -> pa.Array:
    """Every subset of AGENTS as a text[] literal, indexed by its bit mask."""
    return pa.array(
        ["{" + ",".join(a for a in AGENTS if mask & AGENT_BIT[a]) + "}" for mask in range(64)]
    )


@cache
def _metadata(incidents: int) -> pa.Array:
    """The metadata literals: plain, then one per incident (index 1 + the incident's)."""
    tags = [{"source": "demo"}] + [
        {"source": "demo", "incident": f"INC-{i + 1}"} for i in range(incidents)
    ]
    return pa.array([json.dumps(tag, separators=(",", ":")) for tag in tags])
