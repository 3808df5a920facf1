-- Create a user, or set the password of an existing one (owner only).
-- params: email, password_hash
INSERT INTO auth.users (id, email, encrypted_password)
VALUES (gen_random_uuid(), :email, :password_hash)
ON CONFLICT (lower(email)) DO UPDATE SET encrypted_password = EXCLUDED.encrypted_password,
                                         updated_at = now()
RETURNING id::text
