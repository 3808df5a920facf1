-- The demo's orchestration_metrics rows, oldest first, as CSV with a header. Intervals arrive as
-- seconds, timestamps in UTC without a zone (see demo_utc.sql); HEADER match checks the
-- generator's columns against this list.
COPY public.orchestration_metrics (
    metric_id, session_id, company_id, venture_id, stage_id, stage_duration, handoff_efficiency,
    error_rate, action_count, success_count, failure_count, agent_response_time,
    agent_utilization, agents_involved, chairman_interventions, chairman_approvals,
    chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score,
    recorded_at, metric_period_start, metric_period_end, metadata
)
FROM STDIN WITH (FORMAT csv, HEADER match, FREEZE true)
