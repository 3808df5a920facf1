-- The signed-in user's own audit rows, newest first. Filters on the user explicitly as well as
-- through RLS (export_audit_own), so either alone keeps a user to their own rows.
-- params: user_id, row_limit
SELECT
    a.id,
    a.at,
    a.action,
    a.file_name,
    a.filters,
    a.time_zone,
    a.data_as_of,
    a.row_count,
    CAST(a.scope AS text[]) AS scope,
    a.sha256,
    a.reason
FROM orchdash.export_audit AS a
WHERE a.user_id = CAST(:user_id AS uuid)
ORDER BY a.at DESC, a.id DESC
LIMIT CAST(:row_limit AS bigint)
