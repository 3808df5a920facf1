-- The agents named in the given companies' metrics (already intersected with the scope): every
-- non-NULL element of agents_involved, once. The choices of the Agents picker.
-- params: company_ids
SELECT DISTINCT a.agent
FROM orchestration_metrics AS m
CROSS JOIN LATERAL unnest(m.agents_involved) AS a(agent)
WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
  AND a.agent IS NOT NULL
