-- The rows of metric_rows.sql as CSV for a spreadsheet, streamed by COPY, newest first, without
-- the header (queries.extracts writes it once: an export is several of these, one per slice of
-- its period, [start_ts, end_ts) each).
-- Intervals are seconds; numerics are written as stored (negative numbers stay numbers);
-- agents_involved and metadata are JSON. Text cells that a spreadsheet would read as a formula
-- (whose first character is one of formula_starts, queries.extracts.FORMULA_STARTS: the one
-- list, which the pages' CSV of a frame uses too) get a leading ' so they show as text; only the
-- name columns are free text (ids are uuids, JSON starts with [ or {).
-- COPY takes no server-side parameters: psycopg merges these client-side, quoted as literals.
-- params: company_ids, venture_ids, stages, start_ts, end_ts, agents, agents_all, formula_starts
COPY (
    SELECT
        m.metric_id,
        m.session_id,
        m.company_id,
        m.venture_id,
        m.stage_id,
        extract(epoch FROM m.stage_duration) AS stage_duration,
        m.handoff_efficiency,
        m.error_rate,
        m.action_count,
        m.success_count,
        m.failure_count,
        extract(epoch FROM m.agent_response_time) AS agent_response_time,
        m.agent_utilization,
        to_jsonb(m.agents_involved) AS agents_involved,
        m.chairman_interventions,
        m.chairman_approvals,
        m.chairman_rejections,
        m.compute_cost,
        m.api_calls_made,
        m.data_quality_score,
        m.confidence_score,
        m.recorded_at,
        m.metric_period_start,
        m.metric_period_end,
        m.metadata,
        CASE WHEN left(c.name, 1) = ANY(CAST(:formula_starts AS text[]))
            THEN '''' || c.name ELSE c.name END AS company,
        CASE WHEN left(v.name, 1) = ANY(CAST(:formula_starts AS text[]))
            THEN '''' || v.name ELSE v.name END AS venture
    FROM orchestration_metrics AS m
    LEFT JOIN companies AS c ON c.id = m.company_id
    LEFT JOIN ventures AS v ON v.id = m.venture_id AND v.company_id = m.company_id
    WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(m)
      -- include: _ventures_and_stages(m)
      -- include: _agents(m)
    ORDER BY m.recorded_at DESC, m.metric_id DESC
) TO STDOUT WITH (FORMAT csv)
