-- End the session with this id's SHA-256, in every replica at once.
-- params: id_sha256
SELECT orchdash.session_end(CAST(:id_sha256 AS bytea))
