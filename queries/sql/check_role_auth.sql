-- Any privilege of the login role or a role it can become on auth.users, on the table or on any
-- column: sign-in reads it only through the SECURITY DEFINER functions of migration f05. Found
-- through the catalog: the login role need not (and should not) have USAGE on schema auth.
-- params: roles
SELECT format('%I has privileges on auth.users', r.rolname) AS problem,
       format('REVOKE ALL ON auth.users FROM %s, as the owner of auth.users',
              CASE WHEN has_table_privilege('public', c.oid,
                                            'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                     OR has_any_column_privilege('public', c.oid,
                                                 'SELECT, INSERT, UPDATE, REFERENCES')
                   THEN 'PUBLIC, ' ELSE '' END || quote_ident(r.rolname)) AS fix
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN pg_roles AS r
WHERE n.nspname = 'auth' AND c.relname = 'users'
  AND r.rolname = ANY (CAST(:roles AS text[]))
  AND (has_table_privilege(r.oid, c.oid,
                           'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
       OR has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
ORDER BY r.rolname
