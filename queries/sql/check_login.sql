-- The role a URL logs in as: session_user (a default role set with ALTER ROLE ... SET role does
-- not hide it).
SELECT CAST(session_user AS text) AS login
