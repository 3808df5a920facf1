-- The raw rows the filters select, newest first, with the names of their company and venture.
-- Intervals are seconds; numerics are floats; :row_limit NULL means no limit.
-- params: company_ids, venture_ids, stages, start_ts, end_ts, row_limit, agents, agents_all
SELECT
    m.metric_id::text AS metric_id,
    m.session_id::text AS session_id,
    m.company_id::text AS company_id,
    m.venture_id::text AS venture_id,
    m.stage_id,
    CAST(extract(epoch FROM m.stage_duration) AS double precision) AS stage_duration,
    CAST(m.handoff_efficiency AS double precision) AS handoff_efficiency,
    CAST(m.error_rate AS double precision) AS error_rate,
    m.action_count,
    m.success_count,
    m.failure_count,
    CAST(extract(epoch FROM m.agent_response_time) AS double precision) AS agent_response_time,
    CAST(m.agent_utilization AS double precision) AS agent_utilization,
    m.agents_involved,
    m.chairman_interventions,
    m.chairman_approvals,
    m.chairman_rejections,
    CAST(m.compute_cost AS double precision) AS compute_cost,
    m.api_calls_made,
    CAST(m.data_quality_score AS double precision) AS data_quality_score,
    CAST(m.confidence_score AS double precision) AS confidence_score,
    m.recorded_at,
    m.metric_period_start,
    m.metric_period_end,
    m.metadata,
    c.name AS company,
    v.name AS venture
FROM orchestration_metrics AS m
LEFT JOIN companies AS c ON c.id = m.company_id
LEFT JOIN ventures AS v ON v.id = m.venture_id AND v.company_id = m.company_id
WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
  -- include: _period(m)
  -- include: _ventures_and_stages(m)
  -- include: _agents(m)
ORDER BY m.recorded_at DESC, m.metric_id DESC
LIMIT CAST(:row_limit AS bigint)
