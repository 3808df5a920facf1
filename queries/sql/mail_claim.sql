-- Claim one message before it is sent: a row back means this sender sends it now.
-- params: kind, about, recipient, occasion, message_id
SELECT id, attempts
FROM orchdash.mail_claim(CAST(:kind AS text), CAST(:about AS uuid), CAST(:recipient AS uuid),
                         CAST(:occasion AS text), CAST(:message_id AS text))
