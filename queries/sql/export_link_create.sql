-- An export link (its SHA-256 stored) of a live session, for these filters, valid `seconds`;
-- false when the session is not alive.
-- params: id_sha256, session_sha256, filters, seconds
SELECT orchdash.export_link_create(
    CAST(:id_sha256 AS bytea), CAST(:session_sha256 AS bytea), CAST(:filters AS jsonb),
    CAST(:seconds AS double precision))
