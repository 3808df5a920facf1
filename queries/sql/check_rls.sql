-- Row-level security on every table of tenant data the dashboard reads (:tables), and the views
-- over them (:views) defined WITH (security_invoker = true), so that RLS applies to the reader
-- through them rather than the view's owner. Qualified names from the checks' fixed lists, found
-- through the catalog (the login role needs no USAGE on their schemas for this).
-- params: tables, views
SELECT format('%s is missing', t.name) AS problem,
       'orchdash migrate, as the owner (ORCHDASH_ADMIN_DATABASE_URL)' AS fix, t.k
FROM unnest(CAST(:tables AS text[]) || CAST(:views AS text[])) WITH ORDINALITY AS t(name, k)
LEFT JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
LEFT JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
WHERE c.oid IS NULL
UNION ALL
SELECT format('row-level security is off on %s', t.name),
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, as its owner %I', t.name,
              pg_get_userbyid(c.relowner)), t.k
FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, k)
JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
WHERE NOT c.relrowsecurity
UNION ALL
SELECT format('%s runs as its owner %I, not as the reader: RLS does not limit it', t.name,
              pg_get_userbyid(c.relowner)),
       format('ALTER VIEW %s SET (security_invoker = true)', t.name),
       cardinality(CAST(:tables AS text[])) + t.k
FROM unnest(CAST(:views AS text[])) WITH ORDINALITY AS t(name, k)
JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
WHERE NOT EXISTS (
    SELECT FROM pg_options_to_table(c.reloptions) AS o
    WHERE o.option_name = 'security_invoker' AND lower(o.option_value) IN ('true', 'on', '1', 'yes')
)
ORDER BY 3
