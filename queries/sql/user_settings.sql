-- Limit the sign-in lookups' transaction: they run as the app role itself, outside scoped().
-- params: timeout_ms
SELECT set_config('statement_timeout', :timeout_ms, true)
