-- Objects of this database (and the database itself) owned by the login role or a role it can
-- become: an owner is not subject to RLS, may grant itself anything on them and alter them.
-- pg_shdepend records the owner of every object, whatever its kind, except the bootstrap
-- superuser's: for that one the catalogs of relations, functions, schemas, types and databases are
-- read too. The fix gives each object to the owner of public.orchestration_metrics (else to the
-- database's owner).
-- params: roles
WITH roles AS (
    SELECT r.oid, r.rolname FROM pg_roles AS r WHERE r.rolname = ANY (CAST(:roles AS text[]))
),
here AS (
    SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database()
),
system AS (
    SELECT n.oid FROM pg_namespace AS n
    WHERE n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
       OR n.nspname LIKE 'pg\_temp\_%' OR n.nspname LIKE 'pg\_toast\_temp\_%'
),
owned AS (
    SELECT d.refobjid AS owner, d.classid, d.objid, d.objsubid
    FROM pg_shdepend AS d
    WHERE d.refclassid = CAST('pg_authid' AS regclass) AND d.deptype = 'o'
      AND d.refobjid IN (SELECT oid FROM roles)
      AND (d.dbid = (SELECT oid FROM here)
           OR (d.classid = CAST('pg_database' AS regclass) AND d.objid = (SELECT oid FROM here)))
    UNION
    SELECT c.relowner, CAST('pg_class' AS regclass), c.oid, 0 FROM pg_class AS c
    WHERE c.relowner IN (SELECT oid FROM roles) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND c.relnamespace NOT IN (SELECT oid FROM system)
    UNION
    SELECT p.proowner, CAST('pg_proc' AS regclass), p.oid, 0 FROM pg_proc AS p
    WHERE p.proowner IN (SELECT oid FROM roles) AND p.pronamespace NOT IN (SELECT oid FROM system)
    UNION
    SELECT n.nspowner, CAST('pg_namespace' AS regclass), n.oid, 0 FROM pg_namespace AS n
    WHERE n.nspowner IN (SELECT oid FROM roles) AND n.oid NOT IN (SELECT oid FROM system)
    UNION
    SELECT t.typowner, CAST('pg_type' AS regclass), t.oid, 0 FROM pg_type AS t
    WHERE t.typowner IN (SELECT oid FROM roles) AND t.typnamespace NOT IN (SELECT oid FROM system)
      AND (t.typtype IN ('d', 'e', 'r', 'm')
           OR (t.typtype = 'c'
               AND (SELECT c.relkind FROM pg_class AS c WHERE c.oid = t.typrelid) = 'c'))
    UNION
    SELECT b.datdba, CAST('pg_database' AS regclass), b.oid, 0 FROM pg_database AS b
    WHERE b.datdba IN (SELECT oid FROM roles) AND b.oid = (SELECT oid FROM here)
),
heir AS (
    SELECT coalesce(
        (SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relname = 'orchestration_metrics'),
        (SELECT pg_get_userbyid(b.datdba) FROM pg_database AS b
         WHERE b.oid = (SELECT oid FROM here))) AS name
)
SELECT format('%I owns %s', pg_get_userbyid(o.owner),
              pg_describe_object(o.classid, o.objid, o.objsubid)) AS problem,
       format('ALTER %s %s OWNER TO %I',
              CASE i.type WHEN 'composite type' THEN 'TYPE' ELSE upper(i.type) END, i.identity,
              heir.name) AS fix
FROM owned AS o
CROSS JOIN LATERAL pg_identify_object(o.classid, o.objid, o.objsubid) AS i
CROSS JOIN heir
ORDER BY pg_get_userbyid(o.owner), i.type, i.identity
