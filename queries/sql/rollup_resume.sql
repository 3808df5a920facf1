-- After a bulk load (owner only, same transaction as rollup_suspend.sql): rebuild every rollup
-- from the raw rows in one pass each, and mark inserts again.
DO $$
BEGIN
  PERFORM orchdash.rollup_rebuild();
  ALTER TABLE public.orchestration_metrics ENABLE TRIGGER orchdash_rollup_insert;
  PERFORM orchdash.agent_rebuild();
  ALTER TABLE public.orchestration_metrics ENABLE TRIGGER orchdash_agents_insert;
END
$$
