-- Every total and weighted rate of the dashboard, grouped as the caller asks: by period bucket,
-- by company and venture, by stage, or not at all; always split into the current period
-- [start_ts, end_ts) and the previous one [prev_start_ts, start_ts) (pass prev_start_ts = start_ts
-- when no previous period is wanted). One definition of each number serves every page.
--
-- Rates are weighted by action_count over the rows where the rate is present and action_count > 0
-- (NULL where there are none); counts are sums of the column, NULL counting as nothing.
-- The by_* flags are bound booleans: with a constant flag the planner folds each CASE away.
-- Percentiles (percentile_cont, linear) of stage_duration are costly sorts: they are fed rows
-- only when with_percentiles is true, and are NULL otherwise.
-- params: company_ids, venture_ids, stages, prev_start_ts, start_ts, end_ts, grain, tz, by_bucket, by_venture, by_stage, with_percentiles
WITH t AS (
    SELECT
        m.recorded_at >= CAST(:start_ts AS timestamptz) AS is_current,
        CASE WHEN CAST(:by_bucket AS boolean)
            THEN date_trunc(CAST(:grain AS text), m.recorded_at, CAST(:tz AS text)) END AS bucket,
        CASE WHEN CAST(:by_venture AS boolean) THEN m.company_id END AS company_id,
        CASE WHEN CAST(:by_venture AS boolean) THEN m.venture_id END AS venture_id,
        CASE WHEN CAST(:by_stage AS boolean) THEN m.stage_id END AS stage_id,
        count(*) AS rows,
        coalesce(sum(m.action_count), 0) AS actions,
        coalesce(sum(m.success_count), 0) AS successes,
        coalesce(sum(m.failure_count), 0) AS failures,
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
        count(m.stage_duration) AS measured,
        CAST(avg(extract(epoch FROM m.stage_duration)) AS double precision)
            AS mean_stage_duration_s,
        percentile_cont(ARRAY[0.1, 0.25, 0.5, 0.75, 0.9])
            WITHIN GROUP (ORDER BY CAST(extract(epoch FROM m.stage_duration) AS double precision))
            FILTER (WHERE CAST(:with_percentiles AS boolean)) AS percentiles,
        coalesce(sum(m.chairman_interventions), 0) AS interventions,
        coalesce(sum(m.chairman_approvals), 0) AS approvals,
        coalesce(sum(m.chairman_rejections), 0) AS rejections,
        CAST(coalesce(sum(m.compute_cost), 0) AS double precision) AS compute_cost,
        coalesce(sum(m.api_calls_made), 0) AS api_calls,
        CAST(avg(m.data_quality_score) AS double precision) AS data_quality,
        CAST(avg(m.confidence_score) AS double precision) AS confidence
    FROM orchestration_metrics AS m
    WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.recorded_at >= CAST(:prev_start_ts AS timestamptz)
      AND m.recorded_at < CAST(:end_ts AS timestamptz)
      AND (cardinality(CAST(:venture_ids AS uuid[])) = 0
           OR m.venture_id = ANY(CAST(:venture_ids AS uuid[])))
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR m.stage_id = ANY(CAST(:stages AS integer[])))
    GROUP BY 1, 2, 3, 4, 5
)
-- Names are joined after aggregation; a venture is named only under its own company.
SELECT t.*, c.name AS company, v.name AS venture
FROM t
LEFT JOIN companies AS c ON c.id = t.company_id
LEFT JOIN ventures AS v ON v.id = t.venture_id AND v.company_id = t.company_id
