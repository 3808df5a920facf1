-- Per venture, the measures of the "What changed" ranking in the current period
-- [start_ts, end_ts) and in the previous one of equal length [prev_start_ts, start_ts).
-- As in health_cells.sql the venture choice is not applied: the spread across ventures is that
-- of every venture in view; rows without a venture are left out.
-- error_rate and handoff_efficiency are weighted by action_count (rows with the value and
-- action_count > 0); cost_per_success = sum(compute_cost) / sum(success_count) (NULL when there
-- are no successes); response_s = mean agent_response_time in seconds over the rows with one.
-- params: company_ids, stages, prev_start_ts, start_ts, end_ts
WITH t AS (
    SELECT
        m.recorded_at >= CAST(:start_ts AS timestamptz) AS is_current,
        m.company_id,
        m.venture_id,
        count(*) AS rows,
        coalesce(sum(m.action_count), 0) AS actions,
        coalesce(sum(m.success_count), 0) AS successes,
        CAST(
            sum(m.error_rate * m.action_count)
                FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0)
            / sum(m.action_count) FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0)
            AS double precision) AS error_rate,
        CAST(
            sum(m.handoff_efficiency * m.action_count)
                FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0)
            / sum(m.action_count)
                FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0)
            AS double precision) AS handoff_efficiency,
        CAST(sum(m.compute_cost) / nullif(sum(m.success_count), 0) AS double precision)
            AS cost_per_success,
        CAST(avg(extract(epoch FROM m.agent_response_time)) AS double precision) AS response_s
    FROM orchestration_metrics AS m
    WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.recorded_at >= CAST(:prev_start_ts AS timestamptz)
      AND m.recorded_at < CAST(:end_ts AS timestamptz)
      AND m.venture_id IS NOT NULL
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR m.stage_id = ANY(CAST(:stages AS integer[])))
    GROUP BY 1, 2, 3
)
SELECT
    t.is_current,
    CAST(t.company_id AS text) AS company_id,
    CAST(t.venture_id AS text) AS venture_id,
    t.rows, t.actions, t.successes, t.error_rate, t.handoff_efficiency, t.cost_per_success,
    t.response_s,
    c.name AS company,
    v.name AS venture
FROM t
LEFT JOIN companies AS c ON c.id = t.company_id
LEFT JOIN ventures AS v ON v.id = t.venture_id AND v.company_id = t.company_id
