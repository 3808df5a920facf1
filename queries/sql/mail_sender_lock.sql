-- Elect the one sender among replicas and restarts, for the length of this transaction (a
-- transaction-level lock: Supabase's pooler hands out a connection per transaction).
-- params: lock_key
SELECT pg_try_advisory_xact_lock(CAST(:lock_key AS bigint)) AS elected
