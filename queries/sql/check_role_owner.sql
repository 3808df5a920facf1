-- Whether the runtime URL logs in as the owner: the owner URL's login when given, else the owner
-- of the tables the dashboard reads (an owner is not subject to their RLS).
-- params: owner_login
SELECT format('the runtime URL logs in as %I, the owner%s', session_user,
              CASE WHEN CAST(:owner_login AS text) IS NULL
                   THEN ' of public.orchestration_metrics or of schema orchdash'
                   ELSE ' URL''s role' END) AS problem,
       'point DATABASE_URL (or --url) at the runtime role orchdash_app and keep the owner''s URL'
           || ' in ORCHDASH_ADMIN_DATABASE_URL, for orchdash migrate and the fold only' AS fix
WHERE session_user = CAST(:owner_login AS text)
   OR (CAST(:owner_login AS text) IS NULL AND session_user IN (
        SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname = 'orchestration_metrics'
        UNION ALL
        SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace AS n WHERE n.nspname = 'orchdash'))
