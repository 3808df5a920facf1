-- The sign-in and audit functions of migrations f05 and f06 (:functions, signatures from the checks' fixed
-- list, as oidvectortypes prints the arguments; found through the catalog): present, callable
-- (USAGE on their schema), SECURITY DEFINER with a pinned search_path, executable by the login role and
-- by none of the API roles (:api_roles, those that exist; PUBLIC's grant counts for them). Then
-- every other function of schema orchdash the login role may call (it may call only these), and
-- every SECURITY DEFINER one there that a role it can become (:roles) may call.
-- params: functions, api_roles, roles
WITH wanted AS (
    SELECT f.sig, p.oid, p.pronamespace
    FROM unnest(CAST(:functions AS text[])) AS f(sig)
    LEFT JOIN (pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace)
      ON format('%s.%s(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) = f.sig
)
SELECT format('%s is missing', w.sig) AS problem,
       'orchdash migrate, as the owner (ORCHDASH_ADMIN_DATABASE_URL)' AS fix
FROM wanted AS w
WHERE w.oid IS NULL
UNION ALL
SELECT DISTINCT format('%I has no USAGE on schema %I', session_user, n.nspname),
       format('GRANT USAGE ON SCHEMA %I TO %I', n.nspname, session_user)
FROM wanted AS w
JOIN pg_namespace AS n ON n.oid = w.pronamespace
WHERE NOT has_schema_privilege(session_user, n.oid, 'USAGE')
UNION ALL
SELECT format('%I cannot EXECUTE %s', session_user, w.sig),
       format('GRANT EXECUTE ON FUNCTION %s TO %I', w.sig, session_user)
FROM wanted AS w
WHERE w.oid IS NOT NULL AND NOT has_function_privilege(session_user, w.oid, 'EXECUTE')
UNION ALL
SELECT format('%s is not SECURITY DEFINER with its search_path set', w.sig),
       format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', w.sig)
FROM wanted AS w
JOIN pg_proc AS p ON p.oid = w.oid
WHERE NOT p.prosecdef
   OR NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c(setting)
                  WHERE c.setting LIKE 'search\_path=%')
UNION ALL
SELECT format('%I can EXECUTE %s', r.rolname, w.sig),
       format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %I', w.sig, r.rolname)
FROM wanted AS w
CROSS JOIN pg_roles AS r
WHERE w.oid IS NOT NULL AND r.rolname = ANY (CAST(:api_roles AS text[]))
  AND has_function_privilege(r.oid, w.oid, 'EXECUTE')
UNION ALL
SELECT format('%I can EXECUTE %s%s', r.rolname, CAST(p.oid AS regprocedure),
              CASE WHEN p.prosecdef THEN ', which runs as its owner' ELSE '' END),
       format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %I', CAST(p.oid AS regprocedure), r.rolname)
FROM pg_proc AS p
CROSS JOIN pg_roles AS r
WHERE p.pronamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = 'orchdash')
  AND p.oid NOT IN (SELECT w.oid FROM wanted AS w WHERE w.oid IS NOT NULL)
  AND r.rolname = ANY (CAST(:roles AS text[]))
  AND (r.rolname = session_user OR p.prosecdef)
  AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
ORDER BY 1
