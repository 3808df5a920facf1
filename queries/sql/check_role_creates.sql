-- Where the login role or a role it can become may create objects (which it would then own):
-- schemas of this database (CREATE on a schema) and the database itself (CREATE: new schemas).
-- Temporary objects are not counted. The fix revokes from PUBLIC when the privilege is PUBLIC's.
-- params: roles
SELECT format('%I can create objects in schema %I', r.rolname, n.nspname) AS problem,
       format('REVOKE CREATE ON SCHEMA %I FROM %s', n.nspname,
              CASE WHEN has_schema_privilege('public', n.oid, 'CREATE') THEN 'PUBLIC'
                   ELSE quote_ident(r.rolname) END) AS fix
FROM pg_roles AS r
CROSS JOIN pg_namespace AS n
WHERE r.rolname = ANY (CAST(:roles AS text[]))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
  AND has_schema_privilege(r.oid, n.oid, 'CREATE')
UNION ALL
SELECT format('%I can create schemas in database %I', r.rolname, current_database()),
       format('REVOKE CREATE ON DATABASE %I FROM %s', current_database(),
              CASE WHEN has_database_privilege('public', current_database(), 'CREATE')
                   THEN 'PUBLIC' ELSE quote_ident(r.rolname) END)
FROM pg_roles AS r
WHERE r.rolname = ANY (CAST(:roles AS text[]))
  AND has_database_privilege(r.oid, current_database(), 'CREATE')
ORDER BY 1
