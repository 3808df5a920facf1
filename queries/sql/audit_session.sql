-- Settings of the audit write's own short transaction (local to it): a time limit, and the
-- signed-in user's claims, from which orchdash.record_export takes the user ('' for nobody).
-- params: timeout, claims, sub
SELECT set_config('statement_timeout', CAST(:timeout AS text), true),
       set_config('request.jwt.claims', CAST(:claims AS text), true),
       set_config('request.jwt.claim.sub', CAST(:sub AS text), true)
