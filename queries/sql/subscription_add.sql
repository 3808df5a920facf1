-- Subscribe the signed-in user to a page: the row is theirs by the column's default
-- (auth.uid()), and the RLS policy refuses any other user_id.
-- params: page, query, period, every, hour, tz
INSERT INTO orchdash.subscriptions (page, query, period, every, hour, tz)
VALUES (CAST(:page AS text), CAST(:query AS text), CAST(:period AS text), CAST(:every AS text),
        CAST(:hour AS smallint), CAST(:tz AS text))
RETURNING CAST(id AS text) AS id
