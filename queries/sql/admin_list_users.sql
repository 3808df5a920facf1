-- Every user with the names of the companies they have active access to (owner only).
-- params:
SELECT u.id::text AS user_id,
       u.email,
       coalesce(string_agg(c.name, ', ' ORDER BY c.name) FILTER (WHERE a.is_active), '') AS active
FROM auth.users AS u
LEFT JOIN public.user_company_access AS a ON a.user_id = u.id
LEFT JOIN public.companies AS c ON c.id = a.company_id
GROUP BY u.id, u.email
ORDER BY u.email
