-- Subscribe a user, found by email, to a page (owner only: `orchdash digest subscribe`); no row
-- back when no user has that email.
-- params: email, page, query, period, every, hour, tz
INSERT INTO orchdash.subscriptions (user_id, page, query, period, every, hour, tz)
SELECT u.id, CAST(:page AS text), CAST(:query AS text), CAST(:period AS text),
       CAST(:every AS text), CAST(:hour AS smallint), CAST(:tz AS text)
FROM auth.users AS u
WHERE lower(u.email) = lower(CAST(:email AS text))
RETURNING CAST(id AS text) AS id
