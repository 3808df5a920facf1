-- The demo accounts. auth.users is not truncated (it may hold real accounts): no FREEZE here.
COPY auth.users (id, email, encrypted_password, email_confirmed_at, raw_user_meta_data)
FROM STDIN WITH (FORMAT csv, HEADER match)
