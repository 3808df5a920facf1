-- The demo's companies, as CSV with a header.
COPY public.companies (id, name, created_at)
FROM STDIN WITH (FORMAT csv, HEADER match, FREEZE true)
