-- The companies of the scope, by name, for the Companies picker.
-- params: company_ids
SELECT c.id::text AS company_id, c.name AS company
FROM companies AS c
WHERE c.id = ANY(CAST(:company_ids AS uuid[]))
ORDER BY c.name, c.id
