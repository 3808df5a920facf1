-- Empty the tenant tables before the demo is loaded again (same transaction as the load, so that
-- COPY FREEZE may skip the visibility bookkeeping).
TRUNCATE public.orchestration_metrics, public.eva_orchestration_sessions,
    public.user_company_access, public.ventures, public.companies
