-- The ventures of the given companies (already intersected with the scope), for the Ventures picker.
-- params: company_ids
SELECT v.id::text AS venture_id, v.name AS venture, c.id::text AS company_id, c.name AS company
FROM ventures AS v
JOIN companies AS c ON c.id = v.company_id
WHERE v.company_id = ANY(CAST(:company_ids AS uuid[]))
ORDER BY c.name, v.name, v.id
