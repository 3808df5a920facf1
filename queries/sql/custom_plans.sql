-- For the rest of the transaction, plan each statement for its own parameters. psycopg prepared
-- a statement after five runs, and PostgreSQL may then keep a generic plan: for the cell medians
-- (arrays of cells, a period, a bin per cell) that plan took 1.5 s instead of 0.08 s for 800
-- cells at one million rows (timed by hand). It prepares nothing now (engines.make_engine:
-- prepare_threshold=None, for transaction-mode poolers), so the statements it sends are planned
-- for their parameters anyway; this stays for the plans that plpgsql functions keep per
-- connection, and in case prepared statements come back (pgbouncer 1.21+ can pass them on).
SELECT set_config('plan_cache_mode', 'force_custom_plan', true)
