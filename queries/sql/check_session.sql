-- Settings of one short transaction of `orchdash check` (all local to it): a time limit, no JWT
-- claims (nobody is signed in), and the role to check as: 'none' (the login role itself) or the
-- dashboard's reader role (SET LOCAL ROLE, which fails if the login may not become it).
-- params: timeout, role
SELECT set_config('statement_timeout', CAST(:timeout AS text), true),
       set_config('request.jwt.claims', '', true),
       set_config('request.jwt.claim.sub', '', true),
       set_config('role', CAST(:role AS text), true)
