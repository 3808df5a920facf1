-- A one-time sign-in ticket (its SHA-256 stored), redeemable within `seconds`.
-- params: id_sha256, user_id, email, seconds
SELECT orchdash.ticket_issue(
    CAST(:id_sha256 AS bytea), CAST(:user_id AS uuid), CAST(:email AS text),
    CAST(:seconds AS double precision))
