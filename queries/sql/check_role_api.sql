-- Supabase's API roles among the login role and the roles it can become: every API user of the
-- project shares `authenticated`, `service_role` bypasses RLS, `anon` is everybody.
-- params: roles, vias, api_roles
SELECT CASE WHEN x.via IS NULL
            THEN format('the runtime URL logs in as %I, an API role of the project', x.name)
            ELSE format('%I can become %I, an API role of the project', session_user, x.name)
       END AS problem,
       CASE WHEN x.via IS NULL
            THEN 'point DATABASE_URL (or --url) at the runtime role orchdash_app'
            ELSE format('REVOKE %I FROM %I', x.name, x.via) END AS fix
FROM unnest(CAST(:roles AS text[]), CAST(:vias AS text[])) AS x(name, via)
WHERE x.name = ANY (CAST(:api_roles AS text[]))
ORDER BY x.via IS NOT NULL, x.name, x.via
