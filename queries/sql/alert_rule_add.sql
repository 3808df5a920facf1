-- Add an alert rule of the signed-in user: theirs by the column's default (auth.uid()), and the
-- RLS policy refuses any other user_id.
-- params: measure, query, comparison, threshold, window_days, tz
INSERT INTO orchdash.alert_rules (measure, query, comparison, threshold, window_days, tz)
VALUES (CAST(:measure AS text), CAST(:query AS text), CAST(:comparison AS text),
        CAST(:threshold AS double precision), CAST(:window_days AS integer), CAST(:tz AS text))
RETURNING CAST(id AS text) AS id
