-- Link an issuer's subject to an account (the first time only); whether it now links that one.
-- params: issuer, subject, user_id
SELECT orchdash.identity_link(CAST(:issuer AS text), CAST(:subject AS text), CAST(:user_id AS uuid))
