-- Before the demo's bulk load: drop orchestration_metrics' foreign keys and secondary indexes, as
-- pg_restore does. Maintained row by row during COPY they cost two thirds of a large load's time
-- and WAL; built once afterwards (demo_restore_keys_and_indexes.sql, same transaction) they cost
-- a few seconds. Their definitions come from the catalog and are kept in a transaction-local
-- setting, so they come back exactly as the migrations made them.
DO $$
DECLARE
  saved jsonb;
  item jsonb;
BEGIN
  SELECT jsonb_build_object(
           'foreign_keys', coalesce((
             SELECT jsonb_agg(jsonb_build_object('name', conname,
                                                 'definition', pg_get_constraintdef(oid)))
               FROM pg_constraint
              WHERE conrelid = 'public.orchestration_metrics'::regclass AND contype = 'f'),
             '[]'::jsonb),
           'indexes', coalesce((
             SELECT jsonb_agg(jsonb_build_object('name', indexrelid::regclass::text,
                                                 'definition', pg_get_indexdef(indexrelid)))
               FROM pg_index
              WHERE indrelid = 'public.orchestration_metrics'::regclass
                AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)),
             '[]'::jsonb))
    INTO saved;
  PERFORM set_config('orchdash.demo_keys_and_indexes', saved::text, true);
  FOR item IN SELECT * FROM jsonb_array_elements(saved -> 'foreign_keys') LOOP
    EXECUTE format('ALTER TABLE public.orchestration_metrics DROP CONSTRAINT %I', item ->> 'name');
  END LOOP;
  FOR item IN SELECT * FROM jsonb_array_elements(saved -> 'indexes') LOOP
    EXECUTE format('DROP INDEX %s', (item ->> 'name')::regclass);
  END LOOP;
END
$$
