-- Whether the account still exists: checked on every page run, so a deleted user is signed out.
-- params: user_id
SELECT EXISTS (SELECT 1 FROM auth.users WHERE id = CAST(:user_id AS uuid))
