-- Limit the sign-in state's short read-write transaction (it runs as the app role itself, through
-- the SECURITY DEFINER functions of migration f06, outside scoped()).
-- params: timeout_ms
SELECT set_config('statement_timeout', :timeout_ms, true)
