-- Seconds until these throttle keys (SHA-256) may try again; also the rest of the minute once
-- the failures of this minute, of everyone, reached `ceiling`.
-- params: keys, ceiling
SELECT orchdash.sign_in_wait(CAST(:keys AS bytea[]), CAST(:ceiling AS integer))
