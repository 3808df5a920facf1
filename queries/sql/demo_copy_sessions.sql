-- The demo's orchestration sessions, as CSV with a header.
COPY public.eva_orchestration_sessions (session_id, company_id, venture_id, status, started_at, ended_at)
FROM STDIN WITH (FORMAT csv, HEADER match, FREEZE true)
