-- Per agent named in the selected rows' agents_involved: how many of those rows involve it,
-- their actions, and the plain means of agent_utilization (0..100) and agent_response_time
-- (seconds) over the rows where each is present. A row that involves several agents counts in
-- full for each of them (so the agents' rows add up to more than the rows selected); an agent
-- listed twice in one row counts once (its first position); NULL elements name nobody. The
-- agent filter selects rows, as everywhere: with agents chosen, the other agents of those rows
-- are listed too.
--
-- The sums come per agents_involved list, from either source (the filter applies to the list):
--  * orchdash.agent_totals (migration f04: per company, local day and list, in its zone) when
--    :tz is that zone: the days [start_day, end_day], summed over ventures and stages unless
--    either is chosen, else per venture and stage (through an index by venture or by stage);
--  * the raw rows otherwise, grouped by their list before the lists are unnested.
-- Utilization is summed in 1e-2 as the rollup keeps it (the spec's numeric(5,2): exact).
-- params: company_ids, venture_ids, stages, start_ts, end_ts, agents, agents_all, tz, start_day, end_day
WITH setting AS MATERIALIZED (
    SELECT s.zone = CAST(:tz AS text) AS rolled FROM orchdash.agent_settings AS s
),
parts AS (
    SELECT
        o.agents_involved AS agents,
        count(*) AS rows,
        coalesce(sum(o.action_count), 0) AS actions,
        coalesce(sum((o.agent_utilization * 100)::bigint), 0) AS utilization_sum,
        count(o.agent_utilization) AS utilization_n,
        coalesce(sum(extract(epoch FROM o.agent_response_time)), 0) AS response_sum,
        count(o.agent_response_time) AS response_n
    FROM orchestration_metrics AS o
    WHERE NOT (SELECT rolled FROM setting)
      AND o.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(o)
      AND cardinality(o.agents_involved) > 0
      -- include: _ventures_and_stages(o)
      -- include: _agents(o)
    GROUP BY o.agents_involved
    UNION ALL
    SELECT t.agents, t.rows, t.actions, t.utilization_sum, t.utilization_n, t.response_sum,
           t.response_n
    FROM orchdash.agent_totals AS t
    WHERE (SELECT rolled FROM setting)
      AND t.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND t.fine = (cardinality(CAST(:venture_ids AS uuid[])) > 0
                    OR cardinality(CAST(:stages AS integer[])) > 0)
      AND t.day >= CAST(:start_day AS date)
      AND t.day <= CAST(:end_day AS date)
      -- include: _ventures_and_stages(t)
      -- The agent filter of _agents.sql, on the rollup's lists: their column is agents.
      AND (cardinality(CAST(:agents AS text[])) = 0
           OR (CAST(:agents_all AS boolean) AND t.agents @> CAST(:agents AS text[]))
           OR (NOT CAST(:agents_all AS boolean) AND t.agents && CAST(:agents AS text[])))
),
-- One row per list before the lists are unnested: a few dozen, not a row per day or per row.
lists AS (
    SELECT p.agents, sum(p.rows) AS rows, sum(p.actions) AS actions,
           sum(p.utilization_sum) AS utilization_sum, sum(p.utilization_n) AS utilization_n,
           sum(p.response_sum) AS response_sum, sum(p.response_n) AS response_n
    FROM parts AS p
    GROUP BY p.agents
)
SELECT
    a.agent,
    CAST(sum(p.rows) AS bigint) AS rows,
    CAST(sum(p.actions) AS bigint) AS actions,
    CAST(sum(p.utilization_sum) / nullif(100.0 * sum(p.utilization_n), 0) AS double precision)
        AS utilization,
    CAST(sum(p.response_sum) / nullif(sum(p.response_n), 0) AS double precision) AS response_s
FROM lists AS p
CROSS JOIN LATERAL unnest(p.agents) WITH ORDINALITY AS a(agent, i)
WHERE a.agent IS NOT NULL
  AND array_position(p.agents, a.agent) = a.i
GROUP BY a.agent
-- A list all of whose rows went away since the last merge nets out to nothing.
HAVING sum(p.rows) > 0
