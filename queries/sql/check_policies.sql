-- The policies the dashboard relies on, by table, name, command and role: the spec's four on
-- public.orchestration_metrics (migration f03), the reader's own on the other public tables, one
-- per rollup table of schema orchdash (:rollup_tables, from the checks' fixed list; migration
-- f04) and the export audit's (f05). Each fix is the statement that creates it as the migrations
-- do. Then any permissive policy that lets the reader (:reader) read every row of a tenant table
-- (:tables): USING (true), or none.
-- params: rollup_tables, reader, tables
WITH company_filter AS (
    SELECT 'company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a'
           || ' WHERE a.user_id = auth.uid() AND a.is_active))' AS qual
),
expected(tab, name, cmd, verb, role, fix) AS (
    VALUES
    ('public.orchestration_metrics', 'Allow insert for authenticated', 'a', 'INSERT',
     'authenticated',
     'CREATE POLICY "Allow insert for authenticated" ON public.orchestration_metrics'
     || ' FOR INSERT TO authenticated WITH CHECK (true)'),
    ('public.orchestration_metrics', 'Allow update for authenticated', 'w', 'UPDATE',
     'authenticated',
     'CREATE POLICY "Allow update for authenticated" ON public.orchestration_metrics'
     || ' FOR UPDATE TO authenticated USING (true) WITH CHECK (true)'),
    ('public.orchestration_metrics', 'eva_metrics_company_access', 'r', 'SELECT', 'public',
     'CREATE POLICY eva_metrics_company_access ON public.orchestration_metrics FOR SELECT TO'
     || ' public USING (company_id IN (SELECT user_company_access.company_id FROM'
     || ' user_company_access WHERE user_company_access.user_id = auth.uid() AND'
     || ' user_company_access.is_active = true))'),
    ('public.orchestration_metrics', 'orchestration_metrics_delete', 'd', 'DELETE',
     'authenticated',
     'CREATE POLICY orchestration_metrics_delete ON public.orchestration_metrics FOR DELETE TO'
     || ' authenticated USING (true)'),
    ('public.companies', 'orchdash_reader_companies', 'r', 'SELECT', CAST(:reader AS text),
     format('CREATE POLICY orchdash_reader_companies ON public.companies FOR SELECT TO %I USING'
            || ' (id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a'
            || ' WHERE a.user_id = auth.uid() AND a.is_active)))', CAST(:reader AS text))),
    ('public.ventures', 'orchdash_reader_ventures', 'r', 'SELECT', CAST(:reader AS text),
     format('CREATE POLICY orchdash_reader_ventures ON public.ventures FOR SELECT TO %I USING'
            || ' (%s)', CAST(:reader AS text), (SELECT qual FROM company_filter))),
    ('public.user_company_access', 'orchdash_reader_access', 'r', 'SELECT', CAST(:reader AS text),
     format('CREATE POLICY orchdash_reader_access ON public.user_company_access FOR SELECT TO %I'
            || ' USING (user_id = auth.uid() AND is_active)', CAST(:reader AS text))),
    ('orchdash.export_audit', 'export_audit_own', 'r', 'SELECT', CAST(:reader AS text),
     format('CREATE POLICY export_audit_own ON orchdash.export_audit FOR SELECT TO %I USING'
            || ' (user_id = auth.uid())', CAST(:reader AS text)))
    UNION ALL
    SELECT 'orchdash.' || quote_ident(t.name), t.name || '_company_access', 'r', 'SELECT',
           CAST(:reader AS text),
           format('CREATE POLICY %I ON orchdash.%I FOR SELECT TO %I USING (%s)',
                  t.name || '_company_access', t.name, CAST(:reader AS text),
                  (SELECT qual FROM company_filter))
    FROM unnest(CAST(:rollup_tables AS text[])) AS t(name)
),
relations AS (
    SELECT DISTINCT t.name, c.oid
    FROM (SELECT e.tab FROM expected AS e
          UNION SELECT u.name FROM unnest(CAST(:tables AS text[])) AS u(name)) AS t(name)
    LEFT JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
    LEFT JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
),
found AS (
    SELECT e.*, p.polcmd, p.polpermissive,
           p.polroles = '{0}' OR to_regrole(e.role) = ANY (p.polroles) AS to_role,
           r.oid IS NULL AS no_table
    FROM expected AS e
    JOIN relations AS r ON r.name = e.tab
    LEFT JOIN pg_policy AS p ON p.polrelid = r.oid AND p.polname = e.name
)
SELECT format('%s has no policy %I', f.tab, f.name) AS problem, f.fix
FROM found AS f
WHERE f.polcmd IS NULL AND NOT f.no_table
UNION ALL
SELECT format('policy %I on %s is not the spec''s: %s', f.name, f.tab,
              concat_ws(', ',
                        CASE WHEN f.polcmd <> f.cmd THEN format('not FOR %s', f.verb) END,
                        CASE WHEN NOT f.polpermissive THEN 'RESTRICTIVE' END,
                        CASE WHEN NOT f.to_role THEN format('not TO %s', f.role) END)),
       format('DROP POLICY %I ON %s; %s', f.name, f.tab, f.fix)
FROM found AS f
WHERE f.polcmd IS NOT NULL AND (f.polcmd <> f.cmd OR NOT f.polpermissive OR NOT f.to_role)
UNION ALL
SELECT format('policy %I on %s lets %I read every row (%s)', p.polname, t.name,
              CAST(:reader AS text), coalesce('USING ' || pg_get_expr(p.polqual, p.polrelid),
                                              'no USING')),
       format('DROP POLICY %I ON %s, after checking what its other clients need', p.polname,
              t.name)
FROM relations AS t
JOIN pg_policy AS p ON p.polrelid = t.oid
WHERE t.name = ANY (CAST(:tables AS text[]))
  AND p.polpermissive AND p.polcmd IN ('r', '*')
  AND coalesce(pg_get_expr(p.polqual, p.polrelid), 'true') = 'true'
  AND EXISTS (SELECT FROM unnest(p.polroles) AS pr(oid)
              WHERE pr.oid = 0 OR pg_has_role(to_regrole(CAST(:reader AS text)), pr.oid, 'MEMBER'))
