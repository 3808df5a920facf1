-- Whether the login role may become the reader role: a member of it and, on PostgreSQL 16 and
-- later (where membership and the right to SET ROLE are separate options), allowed to SET it.
-- CASE keeps the order of evaluation: pg_has_role(..., 'SET') does not exist before 16.
-- params: reader
SELECT p.problem, p.fix
FROM (VALUES
    (1, to_regrole(CAST(:reader AS text)) IS NULL,
     format('the role %I does not exist', CAST(:reader AS text)),
     'orchdash migrate, as the owner'),
    (2, CASE WHEN to_regrole(CAST(:reader AS text)) IS NULL THEN false
             ELSE NOT pg_has_role(session_user, to_regrole(CAST(:reader AS text)), 'MEMBER') END,
     format('%I is not a member of %I', session_user, CAST(:reader AS text)),
     format('GRANT %I TO %I', CAST(:reader AS text), session_user)),
    (3, CASE WHEN to_regrole(CAST(:reader AS text)) IS NULL
               OR CAST(current_setting('server_version_num') AS integer) < 160000 THEN false
             WHEN NOT pg_has_role(session_user, to_regrole(CAST(:reader AS text)), 'MEMBER')
               THEN false
             ELSE NOT pg_has_role(session_user, to_regrole(CAST(:reader AS text)), 'SET') END,
     format('%I may not SET ROLE %I', session_user, CAST(:reader AS text)),
     format('GRANT %I TO %I WITH SET TRUE', CAST(:reader AS text), session_user))
) AS p(n, failed, problem, fix)
WHERE p.failed
ORDER BY p.n
