"""The demo's numbers: companies, ventures, sessions and orchestration_metrics rows from a seed.

Pure and vectorised (numpy), no database: ``demo_world`` draws the small tables, ``metric_chunks``
the metric rows in time order, in chunks of about ``CHUNK_ROWS`` so memory stays bounded. The same
``rows``, ``seed`` and ``end`` give the same data, ids included.

The numbers tell the stories a chairman looks for: ventures that improve or drift over the 18
months, young ventures that start shaky, a few incidents (error spikes of one to three weeks, one
of them recent), chairman interventions that follow trouble, and stages that take minutes, hours or
days.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pyarrow as pa

CHUNK_ROWS = 100_000
SPAN_DAYS = 548  # 18 months, ending with the `end` day
ORPHAN_SHARE = 0.002  # rows without company, venture and session: visible to nobody
NULL_SHARE = 0.005  # per nullable measure
ZERO_ACTION_SHARE = 0.01
ROWS_PER_SESSION = 60

COMPANY_NAMES = (
    "Northwind Ventures",
    "Helios Robotics",
    "Bluefin Health",
    "Quarry Labs",
    "Meridian Logistics",
    "Atlas Fintech",
)
VENTURE_NAMES = (
    "Aurora", "Beacon", "Cascade", "Driftwood", "Ember", "Fathom", "Granite", "Harbor",
    "Ironbark", "Juniper", "Kestrel", "Lumen", "Mosaic", "Nimbus", "Orchard", "Pinnacle",
    "Quill", "Riverstone", "Sable", "Tidewater", "Umbra", "Vantage", "Willow", "Xylo",
    "Yarrow", "Zephyr", "Alder", "Bramble", "Cinder", "Dune", "Evergreen", "Foxglove",
    "Glacier", "Heron", "Indigo", "Jasper", "Kiln", "Lattice", "Meadow", "Nova",
    "Onyx", "Prism", "Quartz", "Ridge", "Solstice", "Thistle", "Upland", "Verge",
)  # fmt: skip
AGENTS = ("planner", "researcher", "builder", "reviewer", "deployer", "analyst")
_AGENT_BIT = {name: 1 << i for i, name in enumerate(AGENTS)}

# The 40 stages in phases: (last stage, shortest and longest median duration in seconds, mean
# actions, error multiplier, median agent response in seconds, cost per action, agents).
# Within a phase the median duration grows geometrically from the shortest to the longest.
_PHASES = (
    (4, 180, 1_200, 8, 0.6, 1.5, 0.02, ("planner", "analyst")),  # intake: minutes
    (10, 3_600, 28_800, 40, 0.8, 6.0, 0.05, ("researcher", "analyst")),  # research: hours
    (15, 86_400, 345_600, 25, 1.0, 8.0, 0.04, ("analyst", "reviewer")),  # validation: days
    (20, 7_200, 43_200, 30, 0.7, 4.0, 0.03, ("planner", "reviewer")),  # planning: hours
    (28, 172_800, 604_800, 120, 1.4, 12.0, 0.08, ("builder", "reviewer")),  # build: days
    (33, 1_800, 21_600, 80, 1.2, 9.0, 0.06, ("reviewer", "builder")),  # testing: hours
    (37, 600, 7_200, 20, 1.8, 3.0, 0.10, ("deployer", "reviewer")),  # launch: minutes to hours
    (40, 259_200, 864_000, 60, 0.9, 5.0, 0.04, ("analyst", "deployer")),  # operate: days
)
_DAY_US = 86_400_000_000
_SECOND_US = 1_000_000
# UTC without a zone: pyarrow writes these to CSV some twenty times faster than zoned ones; the
# loader reads them in UTC.
_TIMESTAMP = pa.timestamp("us")


@dataclass(frozen=True)
class _Stages:
    """Per-stage parameters, indexed by stage_id (index 0 unused)."""

    median_s: np.ndarray
    sigma: np.ndarray
    actions: np.ndarray
    error_mult: np.ndarray
    response_s: np.ndarray
    cost: np.ndarray
    agents: np.ndarray  # bit mask of AGENTS
    gate: np.ndarray  # 1 where the stage ends a phase and asks for the chairman


def _stages() -> _Stages:
    cols: dict[str, list[float]] = {name: [0.0] for name in _Stages.__dataclass_fields__}
    first = 1
    for last, shortest, longest, actions, err, resp, cost, agents in _PHASES:
        count = last - first + 1
        for i in range(count):
            share = i / max(count - 1, 1)
            cols["median_s"].append(shortest * (longest / shortest) ** share)
            cols["sigma"].append(0.55 + 0.1 * (i % 3))
            cols["actions"].append(actions * (0.8 + 0.4 * share))
            cols["error_mult"].append(err * (0.9 + 0.2 * share))
            cols["response_s"].append(resp * (0.85 + 0.3 * share))
            cols["cost"].append(cost)
            cols["agents"].append(sum(_AGENT_BIT[a] for a in agents))
            cols["gate"].append(float(i == count - 1))
        first = last + 1
    arrays = {name: np.asarray(values) for name, values in cols.items()}
    arrays["agents"] = arrays["agents"].astype(np.int64)
    return _Stages(**arrays)


STAGES = _stages()


@dataclass(frozen=True)
class World:
    """Everything but the metric rows: small, drawn first from the seed.

    Times are days (floats) from ``start``.
    """

    rows: int
    start: dt.datetime  # midnight UTC of the first day
    company_ids: list[str]
    venture_ids: list[str]
    venture_names: list[str]
    venture_company: np.ndarray
    venture_launch: np.ndarray  # < 0: before the span
    venture_base_error: np.ndarray
    venture_slope: np.ndarray  # log change of the error rate over the span: < 0 improves
    venture_quality: np.ndarray
    incidents: np.ndarray  # rows of (venture, first day, days, added error rate)
    session_ids: list[str]
    session_venture: np.ndarray
    session_start: np.ndarray
    session_end: np.ndarray
    session_first_stage: np.ndarray
    session_stages: np.ndarray
    session_status: list[str]
    session_rows: np.ndarray  # how many metric rows each session has
    orphan_rows: int
    chunk_streams: tuple[np.random.SeedSequence, ...]

    @property
    def start_us(self) -> int:
        return int(self.start.timestamp()) * _SECOND_US

    def micros(self, days: np.ndarray) -> np.ndarray:
        """Microseconds since the epoch (UTC) of times in days from the start."""
        return self.start_us + np.round(days * _DAY_US).astype(np.int64)

    @cached_property
    def session_company(self) -> pa.Array:
        company = self.venture_company[self.session_venture]
        return pa.array(self.company_ids).take(pa.array(company))

    @cached_property
    def session_venture_id(self) -> pa.Array:
        return pa.array(self.venture_ids).take(pa.array(self.session_venture))

    @cached_property
    def session_id_array(self) -> pa.Array:
        return pa.array(self.session_ids)


def _hex_ids(raw: np.ndarray, version: int) -> np.ndarray:
    """UUIDs of the given version from 16 random bytes per row, as 32 hex digits each."""
    raw[:, 6] = (raw[:, 6] & 0x0F) | (version << 4)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32")


def _random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()


def _uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(h.decode("ascii"))) for h in _hex_ids(_random_bytes(rng, n), 4)]


def _time_ordered_ids(rng: np.random.Generator, micros: np.ndarray) -> pa.Array:
    """UUIDv7 (RFC 9562): the millisecond first, so rows loaded in time order append to the
    primary key's index instead of scattering over it."""
    raw = _random_bytes(rng, len(micros))
    millis = (micros // 1000).astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, :6] = millis[:, 2:]
    return _string_array(_hex_ids(raw, 7))


def _string_array(fixed: np.ndarray) -> pa.Array:
    """A pyarrow string array over numpy fixed-width bytes, without a Python object per item."""
    width = fixed.dtype.itemsize
    offsets = np.arange(0, width * (len(fixed) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(fixed), pa.py_buffer(offsets), pa.py_buffer(fixed.tobytes())
    )


def first_day(end: dt.date | None = None) -> dt.datetime:
    """Midnight UTC of the first of the SPAN_DAYS days that end with ``end``.

    Without ``end`` the span ends now, not at midnight tonight: a chairman who opens the demo in
    the morning should not see rows recorded this evening.
    """
    if end is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=SPAN_DAYS)
    first = end - dt.timedelta(days=SPAN_DAYS - 1)
    return dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)


def demo_world(rows: int = 200_000, seed: int = 42, end: dt.date | None = None) -> World:
    """Companies, ventures, incidents and sessions for ``seed``."""
    chunks = max(1, -(-rows // CHUNK_ROWS))
    world_stream, *chunk_streams = np.random.SeedSequence(seed).spawn(1 + chunks)
    rng = np.random.default_rng(world_stream)

    n_companies = len(COMPANY_NAMES)
    company_ids = _uuid_strings(rng, n_companies)
    per_company = rng.integers(4, 9, n_companies)
    n_ventures = int(per_company.sum())
    venture_company = np.repeat(np.arange(n_companies), per_company)
    venture_ids = _uuid_strings(rng, n_ventures)
    venture_names = [str(n) for n in rng.choice(VENTURE_NAMES, n_ventures, replace=False)]
    # Most ventures predate the span; the others launch during it and start shaky.
    established = rng.random(n_ventures) < 0.6
    launch = np.where(established, -365.0, rng.uniform(0, SPAN_DAYS * 0.7, n_ventures))
    company_risk = rng.lognormal(0.0, 0.35, n_companies)
    base_error = 0.025 * company_risk[venture_company] * rng.lognormal(0.0, 0.45, n_ventures)
    slope = rng.normal(0.0, 0.8, n_ventures)
    quality = rng.uniform(80.0, 97.0, n_ventures)
    incidents = _incidents(rng, venture_company, launch)

    n_sessions = max(n_ventures * 4, rows // ROWS_PER_SESSION)
    activity = rng.lognormal(0.0, 0.5, n_ventures) * (SPAN_DAYS - np.maximum(launch, 0))
    session_venture = rng.choice(n_ventures, n_sessions, p=activity / activity.sum())
    # Sessions of established ventures may have begun just before the span.
    after = np.maximum(launch[session_venture], -5.0)
    # Busier towards the end: the density of this draw grows linearly, threefold over the span.
    growth = -0.5 + np.sqrt(0.25 + 2 * rng.random(n_sessions))
    start = after + (SPAN_DAYS - 1 / 24 - after) * growth
    length = np.clip(rng.lognormal(np.log(2.0), 0.9, n_sessions), 1 / 24, 21)
    running = start + length >= SPAN_DAYS
    end_day = start + length
    start = np.maximum(start, 0)
    end_day = np.minimum(np.maximum(end_day, start + 1 / 24), SPAN_DAYS)
    stages = np.clip(1 + rng.poisson(3.0, n_sessions), 1, 40)
    first_stage = 1 + np.floor(rng.random(n_sessions) * (41 - stages)).astype(np.int64)
    trouble = base_error[session_venture] + _incident_bump(
        incidents, session_venture, (start + end_day) / 2
    )
    failed = rng.random(n_sessions) < np.clip(trouble * 3, 0.01, 0.6)
    status = np.where(running, "running", np.where(failed, "failed", "completed"))

    orphans = int(rng.binomial(rows, ORPHAN_SHARE))
    return World(
        rows=rows,
        start=first_day(end),
        company_ids=company_ids,
        venture_ids=venture_ids,
        venture_names=venture_names,
        venture_company=venture_company,
        venture_launch=launch,
        venture_base_error=base_error,
        venture_slope=slope,
        venture_quality=quality,
        incidents=incidents,
        session_ids=_uuid_strings(rng, n_sessions),
        session_venture=session_venture,
        session_start=start,
        session_end=end_day,
        session_first_stage=first_stage,
        session_stages=stages,
        session_status=[str(s) for s in status],
        session_rows=rng.multinomial(rows - orphans, np.full(n_sessions, 1 / n_sessions)),
        orphan_rows=orphans,
        chunk_streams=tuple(chunk_streams),
    )


def _incidents(
    rng: np.random.Generator, venture_company: np.ndarray, launch: np.ndarray
) -> np.ndarray:
    """Error spikes of one to three weeks: a recent one in the first company, older elsewhere."""
    rows = []
    for number, company in enumerate((0, 1, 2, 4)):
        candidates = np.flatnonzero((venture_company == company) & (launch < SPAN_DAYS * 0.5))
        venture = int(rng.choice(candidates))
        days = float(rng.uniform(10, 20))
        if number == 0:
            first = SPAN_DAYS - days - rng.uniform(4, 12)
        else:
            first = rng.uniform(max(launch[venture], 0) + 30, SPAN_DAYS - 60)
        rows.append((venture, first, days, rng.uniform(0.18, 0.35)))
    return np.asarray(rows)


def _incident_bump(incidents: np.ndarray, venture: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The error rate that incidents add: it rises and falls over their days."""
    bump = np.zeros(len(day))
    for which, first, days, size in incidents:
        into = (day - first) / days
        hit = (venture == which) & (into >= 0) & (into < 1)
        bump[hit] += size * np.sqrt(np.sin(np.pi * into[hit]))
    return bump


def _incident_number(incidents: np.ndarray, venture: np.ndarray, day: np.ndarray) -> np.ndarray:
    """1 + the index of the incident each row falls in, else 0."""
    number = np.zeros(len(day), dtype=np.int64)
    for i, (which, first, days, _size) in enumerate(incidents):
        number[(venture == which) & (day >= first) & (day < first + days)] = i + 1
    return number


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
    ) * rng.lognormal(0.0, 0.35, n) + _incident_bump(world.incidents, venture, day)
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
    period_end_us = recorded_us - rng.integers(0, 120 * _SECOND_US, n)
    incident = np.where(orphan, 0, _incident_number(world.incidents, venture, day))

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
            period_end_us - duration_s.astype(np.int64) * _SECOND_US, type=_TIMESTAMP
        ),
        "metric_period_end": pa.array(period_end_us, type=_TIMESTAMP),
        "metadata": _metadata(len(world.incidents)).take(pa.array(incident)),
    }
    return pa.table(columns)


@cache
def _agent_arrays() -> pa.Array:
    """Every subset of AGENTS as a text[] literal, indexed by its bit mask."""
    return pa.array(
        ["{" + ",".join(a for a in AGENTS if mask & _AGENT_BIT[a]) + "}" for mask in range(64)]
    )


@cache
def _metadata(incidents: int) -> pa.Array:
    """The metadata literals: plain, then one per incident (index 1 + the incident's)."""
    tags = [{"source": "demo"}] + [
        {"source": "demo", "incident": f"INC-{i + 1}"} for i in range(incidents)
    ]
    return pa.array([json.dumps(tag, separators=(",", ":")) for tag in tags])
