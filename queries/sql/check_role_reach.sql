-- The login role and every role it is a member of, directly or through another: each one it can
-- SET ROLE to or inherit from, so each must be as harmless as the login itself. `via` is the
-- member that holds the grant (NULL for the login itself), for the REVOKE that removes it.
WITH RECURSIVE reach(oid, via) AS (
    SELECT r.oid, CAST(NULL AS oid) FROM pg_roles AS r WHERE r.rolname = session_user
    UNION
    SELECT m.roleid, m.member FROM pg_auth_members AS m JOIN reach ON m.member = reach.oid
)
SELECT CAST(r.rolname AS text) AS name, CAST(v.rolname AS text) AS via
FROM reach
JOIN pg_roles AS r ON r.oid = reach.oid
LEFT JOIN pg_roles AS v ON v.oid = reach.via
ORDER BY reach.via IS NOT NULL, r.rolname, v.rolname
