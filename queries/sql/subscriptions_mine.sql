-- The signed-in user's subscriptions, oldest first, each with its latest message (what was sent,
-- skipped and why, or failed and when it is tried again). RLS limits both tables to the user.
-- params: row_limit
SELECT CAST(s.id AS text) AS id, s.page, s.query, s.period, s.every, s.hour, s.tz,
       s.created_at, s.requested_at,
       m.status AS last_status, m.detail AS last_detail, m.updated_at AS last_at,
       m.attempts AS last_attempts, m.next_attempt_at
FROM orchdash.subscriptions AS s
LEFT JOIN LATERAL (
    SELECT m.status, m.detail, m.updated_at, m.attempts, m.next_attempt_at
    FROM orchdash.messages AS m
    WHERE m.kind = 'digest' AND m.about = s.id
    ORDER BY m.updated_at DESC, m.id DESC
    LIMIT 1
) AS m ON true
ORDER BY s.created_at, s.id
LIMIT CAST(:row_limit AS integer)
