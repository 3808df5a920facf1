-- The outcome of a claimed message: sent, skipped (and why), or failed (retried after
-- :retry_seconds, never when NULL).
-- params: id, status, detail, retry_seconds
SELECT orchdash.mail_done(CAST(:id AS bigint), CAST(:status AS text), CAST(:detail AS text),
                          CAST(:retry_seconds AS double precision))
