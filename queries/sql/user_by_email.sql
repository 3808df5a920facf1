-- The account(s) with this email, case-insensitively (Supabase may hold an SSO twin of a user);
-- two rows at most, so that an ambiguous email is recognised and refused.
-- params: email
SELECT id::text AS id, encrypted_password
FROM auth.users
WHERE lower(email) = lower(:email)
ORDER BY id
LIMIT 2
