-- Every user's alert rules with the owner's address, whether the account is open, and the
-- rule's last state, for the sender only (a SECURITY DEFINER function of migration f09).
-- params:
SELECT CAST(id AS text) AS id, CAST(user_id AS text) AS user_id, email, account_open, measure,
       query, comparison, threshold, window_days, tz, created_at, holding, notify, since,
       evaluated_at
FROM orchdash.mail_rules()
