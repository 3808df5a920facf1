-- The agents named in the given companies' rows (already intersected with the scope), each once:
-- the choices of the Agents picker. Read from orchdash.agent_totals (migration f04), which
-- keeps the signed sums of the rows that name agents per company and agents_involved over all
-- days (day -infinity; a few dozen entries per company): a list all of whose rows went away
-- nets out to no rows and names nobody.
-- params: company_ids
SELECT DISTINCT a.agent
FROM (
    SELECT t.agents
    FROM orchdash.agent_totals AS t
    WHERE t.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND NOT t.fine
      AND t.day = CAST('-infinity' AS date)
    GROUP BY t.company_id, t.agents
    HAVING sum(t.rows) > 0
) AS g
CROSS JOIN LATERAL unnest(g.agents) AS a(agent)
WHERE a.agent IS NOT NULL
