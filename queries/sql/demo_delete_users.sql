-- Remove the demo accounts (their company access goes with them, ON DELETE CASCADE).
-- params: emails
DELETE FROM auth.users WHERE lower(email) = ANY(:emails)
