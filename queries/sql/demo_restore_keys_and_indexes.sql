-- After the demo's bulk load: build the indexes and add the foreign keys (validated at once) that
-- demo_drop_keys_and_indexes.sql dropped, from their saved definitions.
DO $$
DECLARE
  saved jsonb := current_setting('orchdash.demo_keys_and_indexes')::jsonb;
  item jsonb;
BEGIN
  FOR item IN SELECT * FROM jsonb_array_elements(saved -> 'indexes') LOOP
    EXECUTE item ->> 'definition';
  END LOOP;
  FOR item IN SELECT * FROM jsonb_array_elements(saved -> 'foreign_keys') LOOP
    EXECUTE format('ALTER TABLE public.orchestration_metrics ADD CONSTRAINT %I %s',
                   item ->> 'name', item ->> 'definition');
  END LOOP;
END
$$
