-- The demo's ventures, as CSV with a header.
COPY public.ventures (id, company_id, name, created_at)
FROM STDIN WITH (FORMAT csv, HEADER match, FREEZE true)
