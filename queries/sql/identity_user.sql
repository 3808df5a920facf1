-- The open account linked to an identity provider's issuer and subject, if any.
-- params: issuer, subject
SELECT CAST(orchdash.identity_user(CAST(:issuer AS text), CAST(:subject AS text)) AS text)
