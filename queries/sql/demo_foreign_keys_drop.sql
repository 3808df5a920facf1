-- During the demo load, orchestration_metrics' foreign keys would be checked row by row, a third
-- of a large load's time. They are dropped for the load and added back right after it, in the same
-- transaction, from their own catalog definitions (kept in a transaction-local setting), so that
-- they are validated at once and stay exactly as the migrations made them.
DO $$
DECLARE
  foreign_keys jsonb;
  fk jsonb;
BEGIN
  SELECT coalesce(
           jsonb_agg(jsonb_build_object('name', conname, 'definition', pg_get_constraintdef(oid))),
           '[]'::jsonb)
    INTO foreign_keys
    FROM pg_constraint
   WHERE conrelid = 'public.orchestration_metrics'::regclass AND contype = 'f';
  PERFORM set_config('orchdash.demo_foreign_keys', foreign_keys::text, true);
  FOR fk IN SELECT * FROM jsonb_array_elements(foreign_keys) LOOP
    EXECUTE format('ALTER TABLE public.orchestration_metrics DROP CONSTRAINT %I', fk ->> 'name');
  END LOOP;
END
$$
