-- Per agent named in the selected rows' agents_involved: how many of those rows involve it,
-- their actions, and the plain means of agent_utilization (0..100) and agent_response_time
-- (seconds) over the rows where each is present. A row that involves several agents counts in
-- full for each of them (so the agents' rows add up to more than the rows selected); an agent
-- listed twice in one row counts once (its first position); NULL elements name nobody.
-- The agent filter selects rows, as everywhere: with agents chosen, the other agents of those
-- rows are listed too. Sums per agents_involved list first, then the lists are unnested.
-- params: company_ids, venture_ids, stages, start_ts, end_ts, agents, agents_all
WITH parts AS (
    SELECT
        o.agents_involved AS agents,
        count(*) AS rows,
        coalesce(sum(o.action_count), 0) AS actions,
        coalesce(sum((o.agent_utilization * 100)::bigint), 0) AS utilization_sum,
        count(o.agent_utilization) AS utilization_n,
        coalesce(sum(extract(epoch FROM o.agent_response_time)), 0) AS response_sum,
        count(o.agent_response_time) AS response_n
    FROM orchestration_metrics AS o
    WHERE o.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND o.recorded_at >= CAST(:start_ts AS timestamptz)
      AND o.recorded_at < CAST(:end_ts AS timestamptz)
      AND cardinality(o.agents_involved) > 0
      AND (cardinality(CAST(:venture_ids AS uuid[])) = 0
           OR o.venture_id = ANY(CAST(:venture_ids AS uuid[])))
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR o.stage_id = ANY(CAST(:stages AS integer[])))
      AND (cardinality(CAST(:agents AS text[])) = 0
           OR (CAST(:agents_all AS boolean) AND o.agents_involved @> CAST(:agents AS text[]))
           OR (NOT CAST(:agents_all AS boolean) AND o.agents_involved && CAST(:agents AS text[])))
    GROUP BY o.agents_involved
)
SELECT
    a.agent,
    CAST(sum(p.rows) AS bigint) AS rows,
    CAST(sum(p.actions) AS bigint) AS actions,
    CAST(sum(p.utilization_sum) / nullif(100.0 * sum(p.utilization_n), 0) AS double precision)
        AS utilization,
    CAST(sum(p.response_sum) / nullif(sum(p.response_n), 0) AS double precision) AS response_s
FROM parts AS p
CROSS JOIN LATERAL unnest(p.agents) WITH ORDINALITY AS a(agent, i)
WHERE a.agent IS NOT NULL
  AND array_position(p.agents, a.agent) = a.i
GROUP BY a.agent
