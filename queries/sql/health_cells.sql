-- Venture x stage cells of the Venture health page, and each stage's baseline over all the
-- ventures in view (the scope's companies, intersected with the choice), in one pass.
-- The venture choice is deliberately not applied here: a chosen venture is compared with
-- everything the chairman can see; the caller keeps the chosen ventures' cells.
-- Rows without a venture or a stage belong to no cell and are left out of both.
-- Rates are weighted by action_count as everywhere (rows with the rate and action_count > 0);
-- the median is percentile_cont(0.5) of stage_duration in seconds. A row is "low confidence"
-- when its data_quality_score or confidence_score is below :threshold (a missing score is not
-- low); low_* count those rows in each figure's own base (measured rows, weighted actions).
-- params: company_ids, stages, start_ts, end_ts, threshold, agents, agents_all
WITH m AS (
    SELECT
        o.company_id,
        o.venture_id,
        o.stage_id,
        o.action_count,
        o.error_rate,
        o.handoff_efficiency,
        CAST(extract(epoch FROM o.stage_duration) AS double precision) AS duration_s,
        coalesce(o.data_quality_score < CAST(:threshold AS numeric)
                 OR o.confidence_score < CAST(:threshold AS numeric), false) AS low
    FROM orchestration_metrics AS o
    WHERE o.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND o.recorded_at >= CAST(:start_ts AS timestamptz)
      AND o.recorded_at < CAST(:end_ts AS timestamptz)
      AND o.venture_id IS NOT NULL
      AND o.stage_id IS NOT NULL
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR o.stage_id = ANY(CAST(:stages AS integer[])))
      AND (cardinality(CAST(:agents AS text[])) = 0
           OR (CAST(:agents_all AS boolean) AND o.agents_involved @> CAST(:agents AS text[]))
           OR (NOT CAST(:agents_all AS boolean) AND o.agents_involved && CAST(:agents AS text[])))
),
t AS (
    SELECT
        GROUPING(m.venture_id) = 1 AS is_baseline,
        m.stage_id,
        m.company_id,
        m.venture_id,
        count(*) AS rows,
        coalesce(sum(m.action_count), 0) AS actions,
        count(m.duration_s) AS measured,
        count(m.duration_s) FILTER (WHERE m.low) AS low_measured,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY m.duration_s) AS p50_s,
        CAST(
            sum(m.error_rate * m.action_count)
                FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0)
            / sum(m.action_count) FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0)
            AS double precision) AS error_rate,
        coalesce(sum(m.action_count)
            FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0), 0) AS error_actions,
        coalesce(sum(m.action_count)
            FILTER (WHERE m.error_rate IS NOT NULL AND m.action_count > 0 AND m.low), 0)
            AS low_error_actions,
        CAST(
            sum(m.handoff_efficiency * m.action_count)
                FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0)
            / sum(m.action_count)
                FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0)
            AS double precision) AS handoff_efficiency,
        coalesce(sum(m.action_count)
            FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0), 0)
            AS handoff_actions,
        coalesce(sum(m.action_count)
            FILTER (WHERE m.handoff_efficiency IS NOT NULL AND m.action_count > 0 AND m.low), 0)
            AS low_handoff_actions
    FROM m
    GROUP BY GROUPING SETS ((m.stage_id, m.company_id, m.venture_id), (m.stage_id))
)
SELECT
    t.is_baseline,
    t.stage_id,
    CAST(t.company_id AS text) AS company_id,
    CAST(t.venture_id AS text) AS venture_id,
    t.rows, t.actions, t.measured, t.low_measured, t.p50_s,
    t.error_rate, t.error_actions, t.low_error_actions,
    t.handoff_efficiency, t.handoff_actions, t.low_handoff_actions,
    c.name AS company,
    v.name AS venture
FROM t
LEFT JOIN companies AS c ON c.id = t.company_id
LEFT JOIN ventures AS v ON v.id = t.venture_id AND v.company_id = t.company_id
