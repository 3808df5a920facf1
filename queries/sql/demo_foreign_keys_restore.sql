-- Add back the foreign keys that demo_foreign_keys_drop.sql removed, as they were.
DO $$
DECLARE
  fk jsonb;
BEGIN
  FOR fk IN
    SELECT * FROM jsonb_array_elements(current_setting('orchdash.demo_foreign_keys')::jsonb)
  LOOP
    EXECUTE format('ALTER TABLE public.orchestration_metrics ADD CONSTRAINT %I %s',
                   fk ->> 'name', fk ->> 'definition');
  END LOOP;
END
$$
