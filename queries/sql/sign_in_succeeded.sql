-- Forget the failures of these throttle keys (after a successful sign-in).
-- params: keys
SELECT orchdash.sign_in_succeeded(CAST(:keys AS bytea[]))
