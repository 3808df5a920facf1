-- The server process serving this transaction: a pooler in transaction mode may hand each
-- transaction of one client connection to another one.
SELECT pg_backend_pid()
