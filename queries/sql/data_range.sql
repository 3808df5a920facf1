-- First and last recorded_at of the scope's metrics, to bound the Period picker.
-- params: company_ids
SELECT min(m.recorded_at) AS first, max(m.recorded_at) AS last
FROM orchestration_metrics AS m
WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
