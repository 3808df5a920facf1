-- Count a failed sign-in against each key with its own policy; the longest wait it starts.
-- params: keys, free, first_seconds, max_seconds, forget_seconds
SELECT orchdash.sign_in_failed(
    CAST(:keys AS bytea[]), CAST(:free AS integer[]), CAST(:first_seconds AS double precision[]),
    CAST(:max_seconds AS double precision[]), CAST(:forget_seconds AS double precision))
