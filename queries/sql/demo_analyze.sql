-- Fresh statistics right after the load, before autovacuum would get to it.
ANALYZE public.companies, public.ventures, public.eva_orchestration_sessions,
    public.user_company_access, public.orchestration_metrics
