-- The live session of an open account with this id's SHA-256 (its idle clock restarted when
-- `touch`); none once it expired, ended or its account was closed (f06: orchdash.session_get).
-- params: id_sha256, touch
SELECT CAST(s.user_id AS text) AS user_id, s.email
FROM orchdash.session_get(CAST(:id_sha256 AS bytea), CAST(:touch AS boolean)) AS s
