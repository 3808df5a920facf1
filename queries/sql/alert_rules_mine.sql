-- The signed-in user's alert rules, oldest first, with the state each was last found in and its
-- latest message. RLS limits the rules, their states and the messages to the user's own.
-- params: row_limit
SELECT CAST(r.id AS text) AS id, r.measure, r.query, r.comparison, r.threshold, r.window_days,
       r.tz, r.created_at, s.holding, s.since, s.value, s.row_count, s.detail, s.evaluated_at,
       m.status AS last_status, m.detail AS last_detail, m.updated_at AS last_at,
       m.attempts AS last_attempts, m.next_attempt_at
FROM orchdash.alert_rules AS r
LEFT JOIN orchdash.alert_states AS s ON s.rule_id = r.id
LEFT JOIN LATERAL (
    SELECT m.status, m.detail, m.updated_at, m.attempts, m.next_attempt_at
    FROM orchdash.messages AS m
    WHERE m.kind = 'alert' AND m.about = r.id
    ORDER BY m.updated_at DESC, m.id DESC
    LIMIT 1
) AS m ON true
ORDER BY r.created_at, r.id
LIMIT CAST(:row_limit AS integer)
