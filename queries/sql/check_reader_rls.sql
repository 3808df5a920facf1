-- Run as the reader role (check_session's SET LOCAL ROLE) in a READ ONLY transaction with no JWT
-- claims: RLS must apply to it on every tenant table (row_security_active), and it must see no
-- row of public.orchestration_metrics, since nobody is signed in. :tables are qualified names
-- from the checks' fixed list; a missing one is reported by check_rls.
-- params: tables
SELECT format('RLS does not apply to %I on %s', current_user, t.name) AS problem,
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, and ALTER ROLE %I NOBYPASSRLS',
              t.name, current_user) AS fix
FROM unnest(CAST(:tables AS text[])) AS t(name)
JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
WHERE NOT row_security_active(c.oid)
UNION ALL
SELECT format('%I sees rows of public.orchestration_metrics with no user signed in', current_user),
       'find the policy that lets them through, and drop it: SELECT polname, pg_get_expr(polqual,'
           || ' polrelid) FROM pg_policy WHERE polrelid = ''public.orchestration_metrics'''
           || '::regclass' AS fix
WHERE EXISTS (SELECT FROM public.orchestration_metrics)
