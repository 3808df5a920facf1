-- Every user's subscriptions with the recipient's address and whether the account is open, for
-- the sender only (a SECURITY DEFINER function of migration f08).
-- params:
SELECT CAST(id AS text) AS id, CAST(user_id AS text) AS user_id, email, account_open, page,
       query, period, every, hour, tz, created_at, requested_at
FROM orchdash.mail_subscriptions()
