-- Create a user, or set the password of an existing one (owner only). No ON CONFLICT: Supabase's
-- auth.users has no unique index on lower(email) that we could name.
-- params: email, password_hash
WITH updated AS (
    UPDATE auth.users
    SET encrypted_password = :password_hash, updated_at = now(),
        email_confirmed_at = coalesce(email_confirmed_at, now())
    WHERE lower(email) = lower(:email)
    RETURNING id
), inserted AS (
    INSERT INTO auth.users (id, email, encrypted_password, email_confirmed_at)
    SELECT gen_random_uuid(), :email, :password_hash, now()
    WHERE NOT EXISTS (SELECT FROM updated)
    RETURNING id
)
SELECT id::text FROM updated
UNION ALL
SELECT id::text FROM inserted
