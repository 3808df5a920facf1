-- Every subscription with its user's email and its latest message (owner only:
-- `orchdash digest list`).
-- params:
SELECT CAST(s.id AS text) AS id, u.email, s.page, s.query, s.period, s.every, s.hour, s.tz,
       m.status AS last_status, m.detail AS last_detail, m.updated_at AS last_at
FROM orchdash.subscriptions AS s
LEFT JOIN auth.users AS u ON u.id = s.user_id
LEFT JOIN LATERAL (
    SELECT m.status, m.detail, m.updated_at
    FROM orchdash.messages AS m
    WHERE m.kind = 'digest' AND m.about = s.id
    ORDER BY m.updated_at DESC, m.id DESC
    LIMIT 1
) AS m ON true
ORDER BY u.email, s.created_at
