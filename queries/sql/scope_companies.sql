-- The companies a user has ACTIVE access to. Filters on the user explicitly, so it holds with or
-- without RLS (whose policy on user_company_access also limits rows to auth.uid()).
-- params: user_id
SELECT a.company_id::text AS company_id
FROM user_company_access AS a
WHERE a.user_id = CAST(:user_id AS uuid)
  AND a.is_active
ORDER BY a.company_id
