-- Spend a ticket: a new session (id's SHA-256 given) when the ticket was fresh, else no row.
-- params: ticket_sha256, id_sha256, idle_seconds, max_seconds
SELECT CAST(s.user_id AS text) AS user_id, s.email
FROM orchdash.ticket_redeem(
    CAST(:ticket_sha256 AS bytea), CAST(:id_sha256 AS bytea),
    CAST(:idle_seconds AS double precision), CAST(:max_seconds AS double precision)) AS s
