-- The demo accounts' company access, active and inactive, as CSV with a header.
COPY public.user_company_access (user_id, company_id, access_level, is_active)
FROM STDIN WITH (FORMAT csv, HEADER match, FREEZE true)
