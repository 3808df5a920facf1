-- Per stage: either its exact percentiles from the raw rows, or the coarse histogram of its
-- durations over the period, from which the caller (durations.stage_percentiles) finds the coarse
-- bin of each rank that percentile_cont reads and asks duration_ranks.sql for the values.
--
-- From the raw rows (columns measured and percentiles: how many durations the filters select,
-- and their percentiles at :fractions, in order, seconds, percentile_cont itself) when the
-- period is in another zone than the rollups' or ventures are chosen (the duration rollups have
-- no venture) or agents (nor agents), or when a duration of a year or more is among them.
--
-- Otherwise (columns sign, base, counts) the coarse histogram of [first_day, last_day] per
-- company and stage is the difference of two cumulative arrays (duration_day_prefix): each array
-- with its sign, counts[1] being coarse bin base; and what changed since the last fold
-- (orchdash.rollup_log, with its sign) as one-bin arrays. The caller sums them: adding up tens
-- of thousands of array entries costs numpy a millisecond, where unnesting, grouping and a
-- window in SQL cost tens. Everything is read as the user, under RLS.
-- params: fractions, company_ids, venture_ids, stages, tz, start_ts, end_ts, first_day, last_day, agents, agents_all
WITH setting AS MATERIALIZED (
    SELECT s.zone = CAST(:tz AS text) AND cardinality(CAST(:venture_ids AS uuid[])) = 0
        AND cardinality(CAST(:agents AS text[])) = 0
        AS rolled
    FROM orchdash.rollup_settings AS s
),
candidates AS MATERIALIZED (
    SELECT c.company_id
    FROM unnest(CAST(:company_ids AS uuid[])) AS c(company_id)
    WHERE (SELECT rolled FROM setting)
),
stages AS MATERIALIZED (
    SELECT s.stage_id
    FROM generate_series(1, 40) AS s(stage_id)
    WHERE cardinality(CAST(:stages AS integer[])) = 0
       OR s.stage_id = ANY(CAST(:stages AS integer[]))
),
-- What changed since the last fold in the period: each duration's coarse bin, with its sign.
logged AS MATERIALIZED (
    SELECT l.stage_id, orchdash.coarse_bin(orchdash.duration_bin(l.stage_duration)) AS bin,
           sum(l.sign) AS n, bool_or(l.irregular) AS irregular
    FROM orchdash.log_facts AS l
    WHERE l.company_id IN (SELECT company_id FROM candidates)
      AND l.day >= CAST(:first_day AS date) AND l.day <= CAST(:last_day AS date)
      AND l.stage_id IN (SELECT stage_id FROM stages)
      AND l.stage_duration IS NOT NULL
    GROUP BY 1, 2
),
-- Durations of a year or more (folded or not) send the period to the raw branch.
gate AS MATERIALIZED (
    SELECT (SELECT rolled FROM setting)
       AND NOT EXISTS (
           SELECT FROM orchdash.irregular_durations AS i
           WHERE i.company_id IN (SELECT company_id FROM candidates)
             AND i.stage_id IN (SELECT stage_id FROM stages)
             AND i.day >= CAST(:first_day AS date) AND i.day <= CAST(:last_day AS date))
       AND NOT EXISTS (SELECT FROM logged WHERE irregular)
       AS binned
)
SELECT
    m.stage_id,
    count(m.stage_duration) AS measured,
    percentile_cont(CAST(:fractions AS double precision[]))
        WITHIN GROUP (ORDER BY CAST(extract(epoch FROM m.stage_duration) AS double precision))
        AS percentiles,
    CAST(NULL AS integer) AS sign,
    CAST(NULL AS integer) AS base,
    CAST(NULL AS integer[]) AS counts
FROM orchestration_metrics AS m
WHERE NOT (SELECT binned FROM gate)
  AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
  -- include: _period(m)
  AND m.stage_id IS NOT NULL
  -- include: _ventures_and_stages(m)
  -- include: _agents(m)
GROUP BY m.stage_id
UNION ALL
SELECT k.stage_id, NULL, NULL, b.sign, p.base, p.counts
FROM candidates AS c
CROSS JOIN stages AS k
CROSS JOIN (VALUES (CAST(:last_day AS date), 1), (CAST(:first_day AS date) - 1, -1))
    AS b(upto, sign)
CROSS JOIN LATERAL (
    SELECT p.base, p.counts FROM orchdash.duration_day_prefix AS p
    WHERE p.company_id = c.company_id AND p.stage_id = k.stage_id AND p.day <= b.upto
    ORDER BY p.day DESC
    LIMIT 1
) AS p
WHERE (SELECT binned FROM gate)
UNION ALL
SELECT l.stage_id, NULL, NULL, 1, l.bin, ARRAY[CAST(l.n AS integer)]
FROM logged AS l
WHERE (SELECT binned FROM gate)
