-- Role attributes that defeat RLS or the other locks, on the login role (fix: ALTER ROLE) and on
-- each role it can become (fix: REVOKE the membership). :roles and :vias are check_role_reach's.
-- params: roles, vias
SELECT CASE WHEN x.via IS NULL
            THEN format('%I has %s', r.rolname, a.granted)
            ELSE format('%I can become %I, which has %s', session_user, r.rolname, a.granted) END
           AS problem,
       CASE WHEN x.via IS NULL
            THEN format('ALTER ROLE %I %s', r.rolname, a.revoked)
            ELSE format('REVOKE %I FROM %I', r.rolname, x.via) END AS fix
FROM unnest(CAST(:roles AS text[]), CAST(:vias AS text[])) AS x(name, via)
JOIN pg_roles AS r ON r.rolname = x.name
CROSS JOIN LATERAL (
    SELECT string_agg(t.attr, ', ' ORDER BY t.n) AS granted,
           string_agg('NO' || t.attr, ' ' ORDER BY t.n) AS revoked
    FROM (VALUES (1, r.rolsuper, 'SUPERUSER'), (2, r.rolbypassrls, 'BYPASSRLS'),
                 (3, r.rolcreaterole, 'CREATEROLE'), (4, r.rolcreatedb, 'CREATEDB'),
                 (5, r.rolreplication, 'REPLICATION')) AS t(n, has, attr)
    WHERE t.has
) AS a
WHERE a.granted IS NOT NULL
ORDER BY x.via IS NOT NULL, r.rolname
