-- End every session of one account.
-- params: user_id
SELECT orchdash.session_end_user(CAST(:user_id AS uuid))
