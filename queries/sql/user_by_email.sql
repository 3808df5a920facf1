-- The account(s) with this email, case-insensitively (Supabase may hold an SSO twin of a user),
-- through the sign-in function of migration f05: the runtime role has no privilege on auth.users.
-- Two rows at most, so that an ambiguous email is recognised and refused; `active` is false for a
-- banned, deleted or unconfirmed account.
-- params: email
SELECT CAST(a.id AS text) AS id, a.encrypted_password, a.active
FROM orchdash.account_by_email(CAST(:email AS text)) AS a
