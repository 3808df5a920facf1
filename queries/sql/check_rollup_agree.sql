-- Whether the rollups agree with the table (owner only, one snapshot): the rows and the actions
-- of public.orchestration_metrics that the rollups count (company_id and recorded_at present, as
-- orchdash.metric_facts) must equal the folded totals (orchdash.metric_totals per day over all
-- stages, by_stage false: each row once) plus the signed changes not yet folded
-- (orchdash.rollup_log, +1 per inserted row, -1 per deleted one, an update both).
SELECT format('the table has %s rows and %s actions, the rollups count %s rows and %s actions',
              m.rows, m.actions, t.rows + l.rows, t.actions + l.actions) AS problem,
       'SELECT orchdash.rollup_rebuild(), as the owner' AS fix
FROM (SELECT count(*) AS rows, coalesce(sum(coalesce(o.action_count, 0)), 0) AS actions
      FROM public.orchestration_metrics AS o
      WHERE o.company_id IS NOT NULL AND o.recorded_at IS NOT NULL) AS m
CROSS JOIN (SELECT coalesce(sum(x.rows), 0) AS rows, coalesce(sum(x.actions), 0) AS actions
            FROM orchdash.metric_totals AS x
            WHERE x.span = 'day' AND NOT x.by_stage) AS t
CROSS JOIN (SELECT coalesce(sum(g.sign), 0) AS rows,
                   coalesce(sum(g.sign * coalesce(g.action_count, 0)), 0) AS actions
            FROM orchdash.rollup_log AS g) AS l
WHERE (m.rows, m.actions) IS DISTINCT FROM (t.rows + l.rows, t.actions + l.actions)
