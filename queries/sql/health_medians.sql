-- The median stage duration (percentile_cont(0.5), seconds) of each venture x stage cell the
-- caller lists (:cell_companies, :cell_ventures, :cell_stages: the cells with measured
-- durations, and :cell_measured: how many, both known from the rollups), over
-- [start_ts, end_ts). Read as the user, under RLS, with the explicit company filter beside it.
--
-- Ordered: each cell reads its durations of the period in order through the index
-- orchdash_metrics_venture_durations (venture, stage, duration; time and company included),
-- skips the first floor((n - 1) / 2) and keeps one or two: no sort, and over all time only half
-- the cell's rows; or, where the period holds few of the cell's rows, the planner reads them
-- by time (orchdash_metrics_venture_stages) and keeps the same ranks by a bounded sort.
-- percentile_cont's own formula then interpolates between the values at floor and ceil of
-- 0.5 * (n - 1). Interval order is the order of extract(epoch ...) for every duration of less
-- than a year (see irregular in orchdash.metric_facts).
--
-- Sorted: with agents chosen (the counts then come from rows the indexes cannot filter), or with
-- a duration of a year or more near the period (folded or not, days of any zone: 3 days of
-- margin), each cell sorts its rows of the period by seconds (orchdash_metrics_venture_stages).
-- params: company_ids, cell_companies, cell_ventures, cell_stages, cell_measured, start_ts, end_ts, agents, agents_all
WITH cells AS MATERIALIZED (
    SELECT c.company_id, c.venture_id, c.stage_id, c.n
    FROM unnest(CAST(:cell_companies AS uuid[]), CAST(:cell_ventures AS uuid[]),
                CAST(:cell_stages AS integer[]), CAST(:cell_measured AS bigint[]))
        AS c(company_id, venture_id, stage_id, n)
    WHERE c.company_id = ANY(CAST(:company_ids AS uuid[])) AND c.n > 0
),
gate AS MATERIALIZED (
    SELECT cardinality(CAST(:agents AS text[])) = 0
       AND NOT EXISTS (
           SELECT FROM orchdash.irregular_durations AS i
           WHERE i.company_id = ANY(CAST(:company_ids AS uuid[]))
             AND i.day >= CAST(CAST(:start_ts AS timestamptz) - interval '3 days' AS date)
             AND i.day <= CAST(CAST(:end_ts AS timestamptz) + interval '3 days' AS date))
       AND NOT EXISTS (
           SELECT FROM orchdash.log_facts AS l
           WHERE l.company_id = ANY(CAST(:company_ids AS uuid[]))
             AND l.irregular
             AND l.recorded_at >= CAST(:start_ts AS timestamptz)
             AND l.recorded_at < CAST(:end_ts AS timestamptz))
       AS ordered
)
SELECT
    CAST(c.company_id AS text) AS company_id,
    CAST(c.venture_id AS text) AS venture_id,
    c.stage_id,
    CASE WHEN c.n % 2 = 1 THEN v.lo ELSE v.lo + (v.hi - v.lo) * 0.5 END AS p50_s
FROM cells AS c
CROSS JOIN LATERAL (
    SELECT CAST(extract(epoch FROM min(y.d)) AS double precision) AS lo,
           CAST(extract(epoch FROM max(y.d)) AS double precision) AS hi
    FROM (
        SELECT m.stage_duration AS d
        FROM orchestration_metrics AS m
        WHERE m.venture_id = c.venture_id
          AND m.stage_id = c.stage_id
          AND m.stage_duration IS NOT NULL
          AND m.recorded_at >= CAST(:start_ts AS timestamptz)
          AND m.recorded_at < CAST(:end_ts AS timestamptz)
          AND m.company_id = c.company_id
          AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
        ORDER BY m.stage_duration
        OFFSET (c.n - 1) / 2
        LIMIT 2 - c.n % 2
    ) AS y
) AS v
WHERE (SELECT ordered FROM gate)
UNION ALL
SELECT
    CAST(c.company_id AS text) AS company_id,
    CAST(c.venture_id AS text) AS venture_id,
    c.stage_id,
    v.p50_s
FROM cells AS c
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (
               ORDER BY CAST(extract(epoch FROM m.stage_duration) AS double precision)) AS p50_s
    FROM orchestration_metrics AS m
    WHERE m.venture_id = c.venture_id
      AND m.stage_id = c.stage_id
      AND m.recorded_at >= CAST(:start_ts AS timestamptz)
      AND m.recorded_at < CAST(:end_ts AS timestamptz)
      AND m.company_id = c.company_id
      AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.stage_duration IS NOT NULL
      AND (cardinality(CAST(:agents AS text[])) = 0
           OR (CAST(:agents_all AS boolean) AND m.agents_involved @> CAST(:agents AS text[]))
           OR (NOT CAST(:agents_all AS boolean) AND m.agents_involved && CAST(:agents AS text[])))
) AS v
WHERE NOT (SELECT ordered FROM gate)
