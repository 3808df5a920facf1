-- Grant (active) or revoke (inactive) a user's access to a company named or given by id.
-- params: email, company, active
INSERT INTO public.user_company_access (user_id, company_id, is_active)
SELECT u.id, c.id, :active
FROM auth.users AS u, public.companies AS c
WHERE lower(u.email) = lower(:email)
  AND (c.name = :company OR c.id::text = lower(:company))
ON CONFLICT (user_id, company_id) DO UPDATE SET is_active = EXCLUDED.is_active
RETURNING company_id
