-- The user and filters of an export link, only with the live session that made it.
-- params: id_sha256, session_sha256
SELECT CAST(l.user_id AS text) AS user_id, l.filters
FROM orchdash.export_link_open(CAST(:id_sha256 AS bytea), CAST(:session_sha256 AS bytea)) AS l
