-- Before a bulk load of orchestration_metrics (owner only, in the load's transaction): no marks
-- per COPY. The trigger would keep every loaded row in a transition table only to mark each of
-- its days dirty; rollup_resume.sql rebuilds the rollups once at the end instead.
ALTER TABLE public.orchestration_metrics DISABLE TRIGGER orchdash_rollup_insert,
    DISABLE TRIGGER orchdash_agents_insert
