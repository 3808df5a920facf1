-- Ask the sender for a message of this subscription now (RLS: the user's own rows only).
-- params: subscription_id
UPDATE orchdash.subscriptions SET requested_at = clock_timestamp()
WHERE id = CAST(:subscription_id AS uuid)
RETURNING CAST(id AS text) AS id
