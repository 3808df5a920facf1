-- For the rest of the transaction, plan each statement for its own parameters. psycopg prepares
-- a statement after five runs, and PostgreSQL may then keep a generic plan: for the cell medians
-- (arrays of cells, a period, a bin per cell) that plan read ~20x more rows at one million.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true)
