-- Unsubscribe: RLS lets the statement see the signed-in user's own rows only.
-- params: subscription_id
DELETE FROM orchdash.subscriptions WHERE id = CAST(:subscription_id AS uuid)
RETURNING CAST(id AS text) AS id
