-- Whether the fold keeps up (owner only): the oldest change of orchdash.rollup_log not yet folded
-- into the rollups must be younger than :factor times fold_after (writers fold themselves past
-- fold_after, `orchdash run` every few seconds); else the queries add an ever longer log.
-- params: factor
SELECT format('%s changes wait in orchdash.rollup_log, the oldest for %s (fold_after %s): the'
              || ' fold is not running', count(*),
              date_trunc('second', clock_timestamp() - min(l.logged_at)), s.fold_after) AS problem,
       'start `orchdash run` with ORCHDASH_ADMIN_DATABASE_URL, or run'
       || ' `SELECT orchdash.rollup_fold()` on a schedule (cron, pg_cron), as the owner' AS fix
FROM orchdash.rollup_settings AS s
JOIN orchdash.rollup_log AS l ON true
GROUP BY s.fold_after
HAVING min(l.logged_at) < clock_timestamp() - s.fold_after * CAST(:factor AS float8)
