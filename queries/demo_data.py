"""The demo's world: companies, ventures, sessions and incidents from a seed, and the stages'
parameters; ``queries.demo_rows`` draws the orchestration_metrics rows of that world.

Pure and vectorised (numpy), no database: ``demo_world`` draws the small tables, and with them
the seeds of the metric rows' chunks (about ``CHUNK_ROWS`` each, so memory stays bounded). The
same ``rows``, ``seed`` and ``end`` give the same data, ids included.

The numbers tell the stories a chairman looks for: ventures that improve or drift over the 18
months, young ventures that start shaky, a few incidents (error spikes of one to three weeks, one
of them recent), chairman interventions that follow trouble, and stages that take minutes, hours or
days.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

CHUNK_ROWS = 100_000
SPAN_DAYS = 548  # 18 months, ending with the `end` day
ORPHAN_SHARE = 0.002  # rows without company, venture and session: visible to nobody
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
AGENT_BIT = {name: 1 << i for i, name in enumerate(AGENTS)}

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
SECOND_US = 1_000_000


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
            cols["agents"].append(sum(AGENT_BIT[a] for a in agents))
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
        return int(self.start.timestamp()) * SECOND_US

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


def hex_ids(raw: np.ndarray, version: int) -> np.ndarray:
    """UUIDs of the given version from 16 random bytes per row, as 32 hex digits each."""
    raw[:, 6] = (raw[:, 6] & 0x0F) | (version << 4)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32")


def random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()


def _uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(h.decode("ascii"))) for h in hex_ids(random_bytes(rng, n), 4)]


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
    trouble = base_error[session_venture] + incident_bump(
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


def incident_bump(incidents: np.ndarray, venture: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The error rate that incidents add: it rises and falls over their days."""
    bump = np.zeros(len(day))
    for which, first, days, size in incidents:
        into = (day - first) / days
        hit = (venture == which) & (into >= 0) & (into < 1)
        bump[hit] += size * np.sqrt(np.sin(np.pi * into[hit]))
    return bump


def incident_number(incidents: np.ndarray, venture: np.ndarray, day: np.ndarray) -> np.ndarray:
    """1 + the index of the incident each row falls in, else 0."""
    number = np.zeros(len(day), dtype=np.int64)
    for i, (which, first, days, _size) in enumerate(incidents):
        number[(venture == which) & (day >= first) & (day < first + days)] = i + 1
    return number
