-- Venture health's grid: per company, venture and stage, the totals its cells and stage
-- baselines need, over [start_ts, end_ts): rows, actions, measured durations, the weighted
-- error rate and handoff efficiency with their weights, and the parts of the three bases that
-- low-confidence rows carry (data_quality_score or confidence_score below :threshold). Rows
-- without a venture are a group per company and stage; rows without a stage are left out.
--
-- The numbers are totals.sql's, from the same additive sums and the same two sources (the
-- rollups with what changed since their last fold, in the rollup zone at the stored threshold
-- without agents; the raw rows otherwise). Only these ten sums and one period: a grid reads
-- thousands of rollup rows, and each column and grouping key carried through them costs.
-- params: company_ids, venture_ids, stages, start_ts, end_ts, tz, cell_span, cell_lo, cell_hi, cell_sign, threshold, agents, agents_all
WITH setting AS MATERIALIZED (
    SELECT s.zone = CAST(:tz AS text)
        AND cardinality(CAST(:agents AS text[])) = 0
        AND s.low_threshold = CAST(:threshold AS numeric) AS rolled
    FROM orchdash.rollup_settings AS s
),
parts AS (
    -- Raw rows, where the rollups do not serve.
    SELECT
        f.company_id, f.venture_id, f.stage_id,
        count(*) AS rows, sum(f.actions) AS actions, sum(f.durations) AS durations,
        sum(f.error_num) AS error_num, sum(f.error_actions) AS error_actions,
        sum(f.handoff_num) AS handoff_num, sum(f.handoff_actions) AS handoff_actions,
        coalesce(sum(f.durations) FILTER (WHERE x.low), 0) AS low_durations,
        coalesce(sum(f.error_actions) FILTER (WHERE x.low), 0) AS low_error_actions,
        coalesce(sum(f.handoff_actions) FILTER (WHERE x.low), 0) AS low_handoff_actions
    FROM orchdash.metric_facts AS f
    CROSS JOIN LATERAL (
        SELECT coalesce(f.data_quality_score < CAST(:threshold AS numeric)
                        OR f.confidence_score < CAST(:threshold AS numeric), false) AS low
    ) AS x
    WHERE NOT (SELECT rolled FROM setting)
      AND f.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(f)
      AND f.stage_id IS NOT NULL
      -- include: _ventures_and_stages(f)
      -- include: _agents(f)
    GROUP BY 1, 2, 3
    UNION ALL
    -- What changed since the last fold, with its sign.
    SELECT
        l.company_id, l.venture_id, l.stage_id,
        sum(l.sign), sum(l.sign * l.actions), sum(l.sign * l.durations),
        sum(l.sign * l.error_num), sum(l.sign * l.error_actions), sum(l.sign * l.handoff_num),
        sum(l.sign * l.handoff_actions), sum(l.sign * l.low_durations),
        sum(l.sign * l.low_error_actions), sum(l.sign * l.low_handoff_actions)
    FROM orchdash.log_facts AS l
    WHERE (SELECT rolled FROM setting)
      AND l.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(l)
      AND l.stage_id IS NOT NULL
      -- include: _ventures_and_stages(l)
    GROUP BY 1, 2, 3
    UNION ALL
    -- Rollup cells (whole local months and days, each with its sign), one index range per
    -- company and cell, as in totals.sql.
    SELECT
        t.company_id, t.venture_id, t.stage_id,
        c.sign * t.rows, c.sign * t.actions, c.sign * t.durations,
        c.sign * t.error_num, c.sign * t.error_actions, c.sign * t.handoff_num,
        c.sign * t.handoff_actions, c.sign * t.low_durations, c.sign * t.low_error_actions,
        c.sign * t.low_handoff_actions
    FROM unnest(CAST(:company_ids AS uuid[])) AS k(company_id)
    CROSS JOIN unnest(CAST(:cell_span AS text[]), CAST(:cell_lo AS date[]),
                      CAST(:cell_hi AS date[]), CAST(:cell_sign AS integer[]))
        AS c(span, lo, hi, sign)
    CROSS JOIN LATERAL (
        SELECT t.*
        FROM orchdash.metric_totals AS t
        WHERE t.company_id = k.company_id
          AND t.by_stage AND t.stage_id IS NOT NULL
          AND t.span = c.span AND t.day >= c.lo AND t.day < c.hi
          -- include: _ventures_and_stages(t)
        OFFSET 0  -- kept a parameterized range scan, not flattened into a join of everything
    ) AS t
    WHERE (SELECT rolled FROM setting)
),
t AS (
    SELECT
        -- As text: a uuid becomes a Python object per row, text stays cheap.
        CAST(p.company_id AS text) AS company_id, CAST(p.venture_id AS text) AS venture_id,
        p.stage_id,
        CAST(sum(p.rows) AS bigint) AS rows,
        CAST(sum(p.actions) AS bigint) AS actions,
        CAST(sum(p.durations) AS bigint) AS measured,
        -- The rollups keep the spec's fixed-scale numerics as exact integers (migration f04).
        CAST(sum(p.error_num) / nullif(10000 * sum(p.error_actions), 0) AS double precision)
            AS error_rate,
        CAST(sum(p.error_actions) AS bigint) AS error_actions,
        CAST(sum(p.handoff_num) / nullif(100 * sum(p.handoff_actions), 0) AS double precision)
            AS handoff_efficiency,
        CAST(sum(p.handoff_actions) AS bigint) AS handoff_actions,
        CAST(sum(p.low_durations) AS bigint) AS low_durations,
        CAST(sum(p.low_error_actions) AS bigint) AS low_error_actions,
        CAST(sum(p.low_handoff_actions) AS bigint) AS low_handoff_actions
    FROM parts AS p
    GROUP BY p.company_id, p.venture_id, p.stage_id
    -- A group all of whose rows went away since the last fold nets out to nothing.
    HAVING sum(p.rows) > 0
)
-- Names are joined after aggregation; a venture is named only under its own company.
SELECT t.*, c.name AS company, v.name AS venture
FROM t
LEFT JOIN companies AS c ON c.id = CAST(t.company_id AS uuid)
LEFT JOIN ventures AS v
  ON v.id = CAST(t.venture_id AS uuid) AND v.company_id = CAST(t.company_id AS uuid)
