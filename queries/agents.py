"""Agents: who the scope's rows name in ``agents_involved``, and what each agent's rows show.

Agent names are free text from the data. :func:`agents` lists the names that the scope's rows
hold (and that :class:`~queries.criteria.Filters` accepts, so every listed name can be chosen);
:func:`agent_activity` reports utilization and response time per agent over the rows the filters
select. Both read the agent rollup of migration f04 (sums per company, local day and
``agents_involved`` list, over all ventures and stages and again per venture and stage), so
that a page view costs the days it shows, not the rows behind them; agent activity reads the raw
rows only in a zone other than the rollup's. Both tenancy locks hold as everywhere: the scoped
transaction and the explicit company filter, with an empty frame and no SQL when the scope and
the choice intersect to nothing.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from queries.criteria import Filters, Scope, sql_params, valid_agent
from queries.errors import InvalidFilter
from queries.frames import Columns, empty, from_rows
from queries.transactions import fetch

AGENT_ACTIVITY: Columns = {
    "agent": "str",
    "rows": "int",
    "actions": "int",
    "utilization": "float",
    "response_s": "float",
}


def _choosable(name: str) -> bool:
    try:
        valid_agent(name)
    except InvalidFilter:
        return False
    return True


def agents(engine: Engine, scope: Scope) -> list[str]:
    """The agent names in the scope's rows (any period), sorted: the choices of the Agents
    picker. Names that Filters would refuse (empty, too long, control characters) are left
    out."""
    if not scope.company_ids:
        return []
    rows = fetch(engine, scope, "agent_names", {"company_ids": list(scope.company_ids)})
    return sorted(r.agent for r in rows if _choosable(r.agent))


def agent_activity(engine: Engine, scope: Scope, f: Filters) -> pd.DataFrame:
    """Per agent named in the selected rows, sorted by name: ``agent``; ``rows``, how many of
    the rows the filters select involve the agent; their ``actions`` (sum of action_count, a
    NULL counting as nothing); ``utilization``, the mean agent_utilization (0..100) over those
    rows that have one; ``response_s``, the mean agent_response_time in seconds over those rows
    that have one (NaN where none has).

    A row whose agents_involved names several agents counts in full for each of them: its
    actions, utilization and response time are each agent's too, so the agents' rows and
    actions add up to more than the rows selected. An agent named twice in one row counts once;
    NULL elements and rows without agents count for nobody. The agent filter of ``f`` selects
    rows like every other filter, so the other agents of those rows are listed too.
    """
    params = sql_params(scope, f)
    if params is None:
        return empty(AGENT_ACTIVITY, f.tz)
    # Whole local days: what the agent rollup keeps (it serves when f.tz is its zone).
    params.update(start_day=f.start, end_day=f.end)
    rows = fetch(engine, scope, "agent_activity", params)
    frame = from_rows(rows, AGENT_ACTIVITY, f.tz)
    return frame.sort_values("agent", ignore_index=True)
