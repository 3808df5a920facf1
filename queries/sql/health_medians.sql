-- The median stage duration (percentile_cont(0.5), seconds) of each venture x stage cell the
-- caller lists (:cell_companies, :cell_ventures, :cell_stages: the cells with measured
-- durations, and :cell_measured: how many, both known from the rollups), over
-- [start_ts, end_ts), the local days first_day..last_day. Read as the user, under RLS, with the
-- explicit company filter beside it. percentile_cont's own formula interpolates between the
-- values at floor and ceil of 0.5 * (n - 1), the ranks (n - 1) / 2 and n / 2 counted from 0.
--
-- Binned, in the rollup zone: the cell's coarse histogram over the period is the difference of
-- two cumulative arrays (orchdash.venture_day_prefix, migration f04) plus what changed since
-- the last fold (the log, with its sign); the bin that holds the middle rank, and how many of
-- the period's durations lie below it, come from it; the values are then read in order from that
-- bin's floor through the index orchdash_metrics_venture_durations (venture, stage, duration;
-- time and company included): the few durations of one bin instead of half the cell's.
--
-- Ordered, in another zone: each cell reads its durations of the period in order through the
-- same index from the shortest, skips the first floor((n - 1) / 2) and keeps one or two: no
-- sort; or, where the period holds few of the cell's rows, the planner reads them by time
-- (orchdash_metrics_venture_stages) and keeps the same ranks by a bounded sort.
-- Interval order is the order of extract(epoch ...) for every duration of less than a year (see
-- irregular in orchdash.metric_facts).
--
-- Sorted: with agents chosen (the counts then come from rows the indexes cannot filter), or with
-- a duration of a year or more near the period (folded or not, days of any zone: 3 days of
-- margin), each cell sorts its rows of the period by seconds (orchdash_metrics_venture_stages).
-- params: company_ids, cell_companies, cell_ventures, cell_stages, cell_measured, start_ts, end_ts, first_day, last_day, tz, agents, agents_all
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
             -- include: _period(l)
           )
       AS ordered
),
setting AS MATERIALIZED (
    SELECT (SELECT ordered FROM gate) AND s.zone = CAST(:tz AS text) AS binned
    FROM orchdash.rollup_settings AS s
),
-- What changed since the last fold in the period: per cell, its coarse bins (ascending) and
-- their signed counts.
logged AS MATERIALIZED (
    SELECT x.company_id, x.venture_id, x.stage_id, array_agg(x.bin ORDER BY x.bin) AS bins,
           array_agg(x.n ORDER BY x.bin) AS counts
    FROM (
        SELECT l.company_id, l.venture_id, l.stage_id,
               orchdash.coarse_bin(orchdash.duration_bin(l.stage_duration)) AS bin,
               CAST(sum(l.sign) AS bigint) AS n
        FROM orchdash.log_facts AS l
        WHERE (SELECT binned FROM setting)
          AND l.company_id = ANY(CAST(:company_ids AS uuid[]))
          AND l.day >= CAST(:first_day AS date) AND l.day <= CAST(:last_day AS date)
          AND l.venture_id IS NOT NULL AND l.stage_id IS NOT NULL
          AND l.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ) AS x
    GROUP BY 1, 2, 3
)
SELECT
    CAST(c.company_id AS text) AS company_id,
    CAST(c.venture_id AS text) AS venture_id,
    c.stage_id,
    CASE WHEN c.n % 2 = 1 THEN v.lo ELSE v.lo + (v.hi - v.lo) * 0.5 END AS p50_s
FROM cells AS c
LEFT JOIN logged AS l
  ON l.company_id = c.company_id AND l.venture_id = c.venture_id AND l.stage_id = c.stage_id
-- Binned: the bin's floor and how many durations of the period lie below it (middle_bin walks
-- the cell's two arrays and the log). Otherwise from the shortest: bin -871 starts at
-- -178,000,000 years, below every duration of the period (any of a year or more would have
-- closed the gate).
CROSS JOIN LATERAL (
    SELECT k.bin, k.below
    FROM (
        SELECT
            (SELECT p FROM orchdash.venture_day_prefix AS p
             WHERE p.company_id = c.company_id AND p.venture_id = c.venture_id
               AND p.stage_id = c.stage_id AND p.day <= CAST(:last_day AS date)
             ORDER BY p.day DESC
             LIMIT 1) AS hi,
            (SELECT p FROM orchdash.venture_day_prefix AS p
             WHERE p.company_id = c.company_id AND p.venture_id = c.venture_id
               AND p.stage_id = c.stage_id AND p.day < CAST(:first_day AS date)
             ORDER BY p.day DESC
             LIMIT 1) AS lo
        OFFSET 0  -- each array read once, not once per use
    ) AS a
    CROSS JOIN LATERAL orchdash.middle_bin(
        (a.hi).base, (a.hi).counts, (a.lo).base, (a.lo).counts, l.bins, l.counts, (c.n - 1) / 2
    ) AS k
    WHERE (SELECT binned FROM setting)
    UNION ALL
    SELECT -871, 0
    WHERE NOT (SELECT binned FROM setting)
) AS k
CROSS JOIN LATERAL (
    SELECT CAST(extract(epoch FROM min(y.d)) AS double precision) AS lo,
           CAST(extract(epoch FROM max(y.d)) AS double precision) AS hi
    FROM (
        SELECT m.stage_duration AS d
        FROM orchestration_metrics AS m
        WHERE m.venture_id = c.venture_id
          AND m.stage_id = c.stage_id
          AND m.stage_duration IS NOT NULL
          AND m.stage_duration >= orchdash.bin_floor(k.bin * 10)
          -- include: _period(m)
          AND m.company_id = c.company_id
          AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
        ORDER BY m.stage_duration
        OFFSET (c.n - 1) / 2 - k.below
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
      -- include: _period(m)
      AND m.company_id = c.company_id
      AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.stage_duration IS NOT NULL
      -- include: _agents(m)
) AS v
WHERE NOT (SELECT ordered FROM gate)
