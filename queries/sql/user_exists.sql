-- Whether the account may still be signed in (exists, not banned, not deleted, confirmed):
-- checked on every page run, so such a user is signed out at their next action.
-- params: user_id
SELECT orchdash.account_active(CAST(:user_id AS uuid))
