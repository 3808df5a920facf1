-- Every total and weighted rate of the dashboard, grouped as the caller asks: by period bucket,
-- by company and venture, by stage, or not at all; always split into the current period
-- [current_ts, end_ts) and the previous one [start_ts, current_ts) (pass current_ts = start_ts
-- when no previous period is wanted). One definition of each number serves every page.
--
-- The numbers are built from additive sums (orchdash.metric_facts defines them per row), so
-- that they may come from either source below and still be exact:
--  * the rollups (orchdash.metric_totals), when :tz is the rollup zone: the cells the caller
--    lists (:cell_span, :cell_lo, :cell_hi: whole local months and days, each added or
--    subtracted by :cell_sign and counted for the current period or the previous one by
--    :cell_current, whose signed sum is each period once), plus what changed since their last
--    fold (orchdash.rollup_log, each change with its sign);
--  * the raw rows, in any other zone.
-- The by_* flags are bound booleans: with a constant flag the planner folds each CASE away;
-- the unused source is skipped at run time (a one-time filter on the rollup zone).
--
-- Rates are weighted by action_count over the rows where the rate is present and action_count > 0
-- (NULL where there are none); counts are sums of the column, NULL counting as nothing.
-- low_* are the parts of rows, actions, measured durations and the two rates' weights that
-- low-confidence rows carry: data_quality_score or confidence_score below :threshold (a missing
-- score is not low). The rollups count them at the stored threshold (migration f04): they serve
-- only when :threshold is that one, or NULL (the caller wants no low_*; they come out 0 raw).
-- params: company_ids, venture_ids, stages, start_ts, current_ts, end_ts, grain, tz, by_bucket, by_venture, by_stage, cell_span, cell_lo, cell_hi, cell_sign, cell_current, threshold, all_sums, agents, agents_all
WITH setting AS MATERIALIZED (
    SELECT s.zone = CAST(:tz AS text)
        -- The rollups have no agents: with agents chosen, the raw rows answer.
        AND cardinality(CAST(:agents AS text[])) = 0
        AND (CAST(:threshold AS numeric) IS NULL
             OR s.low_threshold = CAST(:threshold AS numeric)) AS rolled
    FROM orchdash.rollup_settings AS s
),
-- Rollup rows with a stage serve stage groups and stage filters; the others are 40 times fewer.
need AS MATERIALIZED (
    SELECT CAST(:by_stage AS boolean) OR cardinality(CAST(:stages AS integer[])) > 0 AS by_stage
),
parts AS (
    -- Raw rows, in a zone the rollups do not use.
    SELECT
        f.recorded_at >= CAST(:current_ts AS timestamptz) AS is_current,
        CASE WHEN CAST(:by_bucket AS boolean)
            THEN date_trunc(CAST(:grain AS text), f.recorded_at, CAST(:tz AS text)) END AS bucket,
        CASE WHEN CAST(:by_venture AS boolean) THEN f.company_id END AS company_id,
        CASE WHEN CAST(:by_venture AS boolean) THEN f.venture_id END AS venture_id,
        CASE WHEN CAST(:by_stage AS boolean) THEN f.stage_id END AS stage_id,
        count(*) AS rows, sum(f.actions) AS actions, sum(f.successes) AS successes,
        sum(f.failures) AS failures, sum(f.error_num) AS error_num,
        sum(f.error_actions) AS error_actions, sum(f.handoff_num) AS handoff_num,
        sum(f.handoff_actions) AS handoff_actions, sum(f.durations) AS durations,
        sum(f.duration_sum) AS duration_sum, sum(f.interventions) AS interventions,
        sum(f.approvals) AS approvals, sum(f.rejections) AS rejections,
        sum(f.compute_cost) AS compute_cost, sum(f.api_calls) AS api_calls,
        sum(f.quality_sum) AS quality_sum, sum(f.quality_n) AS quality_n,
        sum(f.confidence_sum) AS confidence_sum, sum(f.confidence_n) AS confidence_n,
        sum(f.cost_n) AS cost_n, sum(f.response_sum) AS response_sum,
        sum(f.response_n) AS response_n,
        count(*) FILTER (WHERE x.low) AS low_rows,
        coalesce(sum(f.actions) FILTER (WHERE x.low), 0) AS low_actions,
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
      -- include: _ventures_and_stages(f)
      -- include: _agents(f)
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    -- What changed since the last fold, with its sign: added to the rollup cells below.
    SELECT
        l.recorded_at >= CAST(:current_ts AS timestamptz),
        CASE WHEN CAST(:by_bucket AS boolean)
            THEN date_trunc(CAST(:grain AS text), l.recorded_at, CAST(:tz AS text)) END,
        CASE WHEN CAST(:by_venture AS boolean) THEN l.company_id END,
        CASE WHEN CAST(:by_venture AS boolean) THEN l.venture_id END,
        CASE WHEN CAST(:by_stage AS boolean) THEN l.stage_id END,
        sum(l.sign), sum(l.sign * l.actions), sum(l.sign * l.successes),
        sum(l.sign * l.failures), sum(l.sign * l.error_num), sum(l.sign * l.error_actions),
        sum(l.sign * l.handoff_num), sum(l.sign * l.handoff_actions), sum(l.sign * l.durations),
        sum(l.sign * l.duration_sum), sum(l.sign * l.interventions), sum(l.sign * l.approvals),
        sum(l.sign * l.rejections), sum(l.sign * l.compute_cost), sum(l.sign * l.api_calls),
        sum(l.sign * l.quality_sum), sum(l.sign * l.quality_n), sum(l.sign * l.confidence_sum),
        sum(l.sign * l.confidence_n), sum(l.sign * l.cost_n), sum(l.sign * l.response_sum),
        sum(l.sign * l.response_n), sum(l.sign * l.low_rows), sum(l.sign * l.low_actions),
        sum(l.sign * l.low_durations), sum(l.sign * l.low_error_actions),
        sum(l.sign * l.low_handoff_actions)
    FROM orchdash.log_facts AS l
    WHERE (SELECT rolled FROM setting)
      AND l.company_id = ANY(CAST(:company_ids AS uuid[]))
      -- include: _period(l)
      -- include: _ventures_and_stages(l)
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    -- Rollup cells: already sums, so no grouping here (the final one does it). One index range
    -- (company, grouping, span, days) per company and cell: a period's months are never looked
    -- for among all the company's days (at ten million rows 30 times more rows than months).
    -- Without :all_sums they carry 10 of the 27 sums: rows, actions, the two rates and their
    -- weights, the durations' count and the low parts of those three bases; the other columns
    -- are then partial, and the caller keeps none of them (totals.total_rows). A venture x
    -- stage grid reads thousands of cells a period: a third less time.
    SELECT
        c.current,
        CASE WHEN CAST(:by_bucket AS boolean)
            THEN date_trunc(CAST(:grain AS text), t.day::timestamp) AT TIME ZONE CAST(:tz AS text)
        END,
        CASE WHEN CAST(:by_venture AS boolean) THEN t.company_id END,
        CASE WHEN CAST(:by_venture AS boolean) THEN t.venture_id END,
        CASE WHEN CAST(:by_stage AS boolean) THEN t.stage_id END,
        c.sign * t.rows, c.sign * t.actions,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.successes END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.failures END,
        c.sign * t.error_num, c.sign * t.error_actions, c.sign * t.handoff_num,
        c.sign * t.handoff_actions, c.sign * t.durations,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.duration_sum END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.interventions END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.approvals END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.rejections END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.compute_cost END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.api_calls END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.quality_sum END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.quality_n END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.confidence_sum END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.confidence_n END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.cost_n END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.response_sum END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.response_n END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.low_rows END,
        CASE WHEN CAST(:all_sums AS boolean) THEN c.sign * t.low_actions END,
        c.sign * t.low_durations, c.sign * t.low_error_actions, c.sign * t.low_handoff_actions
    FROM unnest(CAST(:company_ids AS uuid[])) AS k(company_id)
    CROSS JOIN unnest(CAST(:cell_span AS text[]), CAST(:cell_lo AS date[]),
                      CAST(:cell_hi AS date[]), CAST(:cell_sign AS integer[]),
                      CAST(:cell_current AS boolean[])) AS c(span, lo, hi, sign, current)
    CROSS JOIN LATERAL (
        SELECT t.*
        FROM orchdash.metric_totals AS t
        WHERE t.company_id = k.company_id
          AND t.by_stage = (SELECT by_stage FROM need)
          AND t.span = c.span AND t.day >= c.lo AND t.day < c.hi
          -- include: _ventures_and_stages(t)
        OFFSET 0  -- kept a parameterized range scan, not flattened into a join of everything
    ) AS t
    WHERE (SELECT rolled FROM setting)
),
t AS (
    SELECT
        p.is_current, p.bucket,
        -- As text: a uuid becomes a Python object per row, text stays cheap.
        CAST(p.company_id AS text) AS company_id, CAST(p.venture_id AS text) AS venture_id,
        p.stage_id,
        CAST(sum(p.rows) AS bigint) AS rows,
        CAST(sum(p.actions) AS bigint) AS actions,
        CAST(sum(p.successes) AS bigint) AS successes,
        CAST(sum(p.failures) AS bigint) AS failures,
        -- The rollups keep the spec's fixed-scale numerics as exact integers (migration f04).
        CAST(sum(p.error_num) / nullif(10000 * sum(p.error_actions), 0) AS double precision)
            AS error_rate,
        CAST(sum(p.handoff_num) / nullif(100 * sum(p.handoff_actions), 0) AS double precision)
            AS handoff_efficiency,
        CAST(sum(p.durations) AS bigint) AS measured,
        CAST(sum(p.duration_sum) / nullif(sum(p.durations), 0) AS double precision)
            AS mean_stage_duration_s,
        CAST(sum(p.interventions) AS bigint) AS interventions,
        CAST(sum(p.approvals) AS bigint) AS approvals,
        CAST(sum(p.rejections) AS bigint) AS rejections,
        CAST(sum(p.compute_cost) / 100.0 AS double precision) AS compute_cost,
        CAST(sum(p.api_calls) AS bigint) AS api_calls,
        CAST(sum(p.quality_sum) / nullif(100 * sum(p.quality_n), 0) AS double precision)
            AS data_quality,
        CAST(sum(p.confidence_sum) / nullif(100 * sum(p.confidence_n), 0) AS double precision)
            AS confidence,
        -- Cost per success: the recorded costs over the successes (NULL without either).
        CAST(CASE WHEN sum(p.cost_n) > 0
            THEN sum(p.compute_cost) / nullif(100 * sum(p.successes), 0) END AS double precision)
            AS cost_per_success,
        CAST(sum(p.response_sum) / nullif(sum(p.response_n), 0) AS double precision)
            AS response_s,
        CAST(sum(p.error_actions) AS bigint) AS error_actions,
        CAST(sum(p.handoff_actions) AS bigint) AS handoff_actions,
        CAST(sum(p.low_rows) AS bigint) AS low_rows,
        CAST(sum(p.low_actions) AS bigint) AS low_actions,
        CAST(sum(p.low_durations) AS bigint) AS low_durations,
        CAST(sum(p.low_error_actions) AS bigint) AS low_error_actions,
        CAST(sum(p.low_handoff_actions) AS bigint) AS low_handoff_actions,
        -- The share of the figure's base that low-confidence rows carry: of the actions where
        -- there are any, else of the rows; of the measured durations for duration figures.
        CASE WHEN sum(p.actions) > 0
            THEN CAST(sum(p.low_actions) AS double precision)
                / CAST(sum(p.actions) AS double precision)
            ELSE CAST(sum(p.low_rows) AS double precision) / CAST(sum(p.rows) AS double precision)
        END AS low_share,
        CAST(sum(p.low_durations) AS double precision)
            / nullif(CAST(sum(p.durations) AS double precision), 0) AS low_duration_share
    FROM parts AS p
    GROUP BY p.is_current, p.bucket, p.company_id, p.venture_id, p.stage_id
    -- A group all of whose rows went away since the last fold nets out to nothing.
    HAVING sum(p.rows) > 0
)
-- Names are joined after aggregation; a venture is named only under its own company.
SELECT t.*, c.name AS company, v.name AS venture
FROM t
LEFT JOIN companies AS c ON c.id = CAST(t.company_id AS uuid)
LEFT JOIN ventures AS v
  ON v.id = CAST(t.venture_id AS uuid) AND v.company_id = CAST(t.company_id AS uuid)
