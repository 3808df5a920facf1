-- Writes the login role or a role it can become may make on the dashboard's tables (views and
-- settings included): INSERT or UPDATE (on the table or any column), DELETE, TRUNCATE, TRIGGER.
-- A table missing here is not a privilege (check_rls reports it). :tables are qualified names
-- from the checks' fixed list, found through the catalog (no USAGE on their schema needed). The fix revokes from PUBLIC too when PUBLIC holds the privilege.
-- params: roles, tables
SELECT format('%I can %s %s', r.rolname, w.privileges, t.name) AS problem,
       format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON %s FROM %s', t.name,
              CASE WHEN w.public THEN 'PUBLIC, ' ELSE '' END || quote_ident(r.rolname)) AS fix
FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, k)
JOIN pg_namespace AS n ON n.nspname = split_part(t.name, '.', 1)
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = split_part(t.name, '.', 2)
CROSS JOIN pg_roles AS r
CROSS JOIN LATERAL (
    SELECT string_agg(p.privilege, ', ' ORDER BY p.k) AS privileges,
           bool_or(p.public) AS public
    FROM (VALUES
        (1, 'INSERT', has_any_column_privilege(r.oid, c.oid, 'INSERT'),
            has_any_column_privilege('public', c.oid, 'INSERT')),
        (2, 'UPDATE', has_any_column_privilege(r.oid, c.oid, 'UPDATE'),
            has_any_column_privilege('public', c.oid, 'UPDATE')),
        (3, 'DELETE', has_table_privilege(r.oid, c.oid, 'DELETE'),
            has_table_privilege('public', c.oid, 'DELETE')),
        (4, 'TRUNCATE', has_table_privilege(r.oid, c.oid, 'TRUNCATE'),
            has_table_privilege('public', c.oid, 'TRUNCATE')),
        (5, 'TRIGGER', has_table_privilege(r.oid, c.oid, 'TRIGGER'),
            has_table_privilege('public', c.oid, 'TRIGGER'))
    ) AS p(k, privilege, held, public)
    WHERE p.held
) AS w
WHERE r.rolname = ANY (CAST(:roles AS text[])) AND w.privileges IS NOT NULL
ORDER BY t.k, r.rolname
