-- Per stage: how many durations the filters select, and their percentiles at :fractions (in
-- order, 0..1) in seconds, exactly as percentile_cont (linear interpolation) computes them over
-- the raw rows.
--
-- From the raw rows when the period is in another zone than the rollups' or ventures are chosen
-- (the duration rollups have no venture), or when a duration of a year or more is among them.
-- Otherwise, without sorting the period's durations (orchdash.duration_bin: 0.33 % wide bins,
-- ten to a coarse bin):
--  1. counts per coarse bin over [first_day, last_day]: the difference of two cumulative
--     arrays per company and stage (duration_day_prefix);
--  2. for each wanted rank, its coarse bin; then the counts of that bin's ten fine bins: the
--     difference of two cumulative arrays at the month boundaries [month_lo, month_hi)
--     (duration_month_prefix), plus or minus the days of the edge ranges (edge_lo, edge_hi,
--     edge_sign) from duration_days;
--  3. for each wanted rank, its fine bin, whose raw durations in the period are read in order
--     through the index orchdash_metrics_durations (bins are ranges of stage_duration) to pick
--     the value at the rank: a few hundred rows per rank at ten million.
-- Both histograms add what changed since the last fold (orchdash.rollup_log, with its sign).
-- percentile_cont's own formula then interpolates between the values at floor and
-- ceil of p * (n - 1). Everything is read as the user, under RLS.
-- params: fractions, company_ids, venture_ids, stages, tz, start_ts, end_ts, first_day, last_day, month_lo, month_hi, edge_lo, edge_hi, edge_sign, agents, agents_all
WITH setting AS MATERIALIZED (
    SELECT s.zone = CAST(:tz AS text) AND cardinality(CAST(:venture_ids AS uuid[])) = 0
        -- The rollups have no agents either.
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
-- What changed since the last fold in the period: each duration's fine bin, with its sign.
logged AS MATERIALIZED (
    SELECT l.stage_id, orchdash.duration_bin(l.stage_duration) AS fine, sum(l.sign) AS n,
           bool_or(l.irregular) AS irregular
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
),
fractions AS (
    SELECT f.p, f.i
    FROM unnest(CAST(:fractions AS double precision[])) WITH ORDINALITY AS f(p, i)
),
raw AS (
    SELECT
        m.stage_id,
        count(m.stage_duration) AS measured,
        percentile_cont(CAST(:fractions AS double precision[]))
            WITHIN GROUP (ORDER BY CAST(extract(epoch FROM m.stage_duration) AS double precision))
            AS percentiles
    FROM orchestration_metrics AS m
    WHERE NOT (SELECT binned FROM gate)
      AND m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.recorded_at >= CAST(:start_ts AS timestamptz)
      AND m.recorded_at < CAST(:end_ts AS timestamptz)
      AND m.stage_id IS NOT NULL
      AND (cardinality(CAST(:venture_ids AS uuid[])) = 0
           OR m.venture_id = ANY(CAST(:venture_ids AS uuid[])))
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR m.stage_id = ANY(CAST(:stages AS integer[])))
      AND (cardinality(CAST(:agents AS text[])) = 0
           OR (CAST(:agents_all AS boolean) AND m.agents_involved @> CAST(:agents AS text[]))
           OR (NOT CAST(:agents_all AS boolean) AND m.agents_involved && CAST(:agents AS text[])))
    GROUP BY m.stage_id
),
chosen AS MATERIALIZED (
    SELECT c.company_id FROM candidates AS c WHERE (SELECT binned FROM gate)
),
-- 1. Coarse counts over the period.
coarse AS MATERIALIZED (
    SELECT x.stage_id, x.bin, CAST(sum(x.n) AS bigint) AS n
    FROM (
        SELECT k.stage_id, p.base + e.i::integer - 1 AS bin, e.n * b.sign AS n
        FROM chosen AS c
        CROSS JOIN stages AS k
        CROSS JOIN (VALUES (CAST(:last_day AS date), 1),
                           (CAST(:first_day AS date) - 1, -1)) AS b(upto, sign)
        CROSS JOIN LATERAL (
            SELECT p.base, p.counts FROM orchdash.duration_day_prefix AS p
            WHERE p.company_id = c.company_id AND p.stage_id = k.stage_id AND p.day <= b.upto
            ORDER BY p.day DESC
            LIMIT 1
        ) AS p
        CROSS JOIN LATERAL unnest(p.counts) WITH ORDINALITY AS e(n, i)
        WHERE e.n <> 0
        UNION ALL
        SELECT l.stage_id, orchdash.coarse_bin(l.fine), l.n
        FROM logged AS l
        WHERE (SELECT binned FROM gate)
    ) AS x
    GROUP BY 1, 2
    HAVING sum(x.n) <> 0
),
-- Per stage, the coarse bins in order with the count before each: a rank's bin is found by
-- binary search (width_bucket) instead of a join on ranges.
cum AS MATERIALIZED (
    SELECT x.stage_id, array_agg(x.bin ORDER BY x.bin) AS bins,
           array_agg(x.before ORDER BY x.bin) AS befores, max(x.total) AS total
    FROM (
        SELECT c.stage_id, c.bin,
               CAST(sum(c.n) OVER (PARTITION BY c.stage_id ORDER BY c.bin) - c.n AS bigint)
                   AS before,
               CAST(sum(c.n) OVER (PARTITION BY c.stage_id) AS bigint) AS total
        FROM coarse AS c
    ) AS x
    GROUP BY x.stage_id
),
-- The ranks percentile_cont reads: floor and ceil of p * (n - 1), counted from 0.
wanted AS MATERIALIZED (
    SELECT DISTINCT t.stage_id, r.rank
    FROM cum AS t
    CROSS JOIN fractions AS f
    CROSS JOIN LATERAL (
        VALUES (CAST(floor(f.p * CAST(t.total - 1 AS double precision)) AS bigint)),
               (CAST(ceil(f.p * CAST(t.total - 1 AS double precision)) AS bigint))
    ) AS r(rank)
),
in_coarse AS MATERIALIZED (
    SELECT w.stage_id, w.rank, c.bins[k.i] AS coarse, w.rank - c.befores[k.i] AS rank_in
    FROM wanted AS w
    JOIN cum AS c ON c.stage_id = w.stage_id
    CROSS JOIN LATERAL (SELECT width_bucket(w.rank, c.befores) AS i) AS k
),
coarse_bins AS MATERIALIZED (
    SELECT DISTINCT i.stage_id, i.coarse FROM in_coarse AS i
),
wanted_stages AS MATERIALIZED (
    SELECT DISTINCT b.stage_id FROM coarse_bins AS b
),
edges AS (
    SELECT e.lo, e.hi, e.sign
    FROM unnest(CAST(:edge_lo AS date[]), CAST(:edge_hi AS date[]),
                CAST(:edge_sign AS integer[])) AS e(lo, hi, sign)
),
-- The fine cumulative arrays at the two month boundaries, one read per company and stage.
month_arrays AS MATERIALIZED (
    SELECT k.stage_id, m.sign, p.base, p.counts
    FROM chosen AS c
    CROSS JOIN wanted_stages AS k
    CROSS JOIN (VALUES (CAST(:month_hi AS date), 1), (CAST(:month_lo AS date), -1))
        AS m(boundary, sign)
    CROSS JOIN LATERAL (
        -- [:] copies the array out of its compressed storage once.
        SELECT p.base, p.counts[:] AS counts FROM orchdash.duration_month_prefix AS p
        WHERE p.company_id = c.company_id AND p.stage_id = k.stage_id
          AND p.month <= m.boundary
        ORDER BY p.month DESC
        LIMIT 1
    ) AS p
    WHERE CAST(:month_lo AS date) < CAST(:month_hi AS date)
),
-- The edge days' fine counts, one index range per company, stage and edge.
edge_days AS MATERIALIZED (
    SELECT k.stage_id, e.sign, d.bins, d.counts
    FROM chosen AS c
    CROSS JOIN wanted_stages AS k
    CROSS JOIN edges AS e
    CROSS JOIN LATERAL (
        SELECT d.bins, d.counts FROM orchdash.duration_days AS d
        WHERE d.company_id = c.company_id AND d.stage_id = k.stage_id
          AND d.day >= e.lo AND d.day < e.hi
        OFFSET 0  -- a range scan of the key per company, stage and edge, not one of everything
    ) AS d
),
-- 2. Fine counts within each coarse bin that holds a wanted rank.
fine AS MATERIALIZED (
    SELECT x.stage_id, x.coarse, x.fine, CAST(sum(x.n) AS bigint) AS n
    FROM (
        SELECT b.stage_id, b.coarse,
               a.base + greatest(b.coarse * 10 - a.base, 0) + e.i::integer - 1 AS fine,
               e.n * a.sign AS n
        FROM coarse_bins AS b
        JOIN month_arrays AS a ON a.stage_id = b.stage_id
        CROSS JOIN LATERAL unnest(
            a.counts[greatest(b.coarse * 10 - a.base, 0) + 1 : b.coarse * 10 + 9 - a.base + 1]
        ) WITH ORDINALITY AS e(n, i)
        UNION ALL
        -- The slice of each edge day's bins that falls into the coarse bin.
        SELECT b.stage_id, b.coarse, d.bins[k.i], d.counts[k.i] * d.sign
        FROM coarse_bins AS b
        JOIN edge_days AS d ON d.stage_id = b.stage_id
        CROSS JOIN LATERAL generate_series(
            width_bucket(b.coarse * 10 - 1, d.bins) + 1, width_bucket(b.coarse * 10 + 9, d.bins)
        ) AS k(i)
        UNION ALL
        SELECT b.stage_id, b.coarse, l.fine, l.n
        FROM logged AS l
        JOIN coarse_bins AS b ON b.stage_id = l.stage_id AND b.coarse = orchdash.coarse_bin(l.fine)
    ) AS x
    GROUP BY 1, 2, 3
    HAVING sum(x.n) <> 0
),
fine_cum AS MATERIALIZED (
    SELECT x.stage_id, x.coarse, array_agg(x.fine ORDER BY x.fine) AS bins,
           array_agg(x.before ORDER BY x.fine) AS befores
    FROM (
        SELECT f.stage_id, f.coarse, f.fine,
               CAST(sum(f.n) OVER (PARTITION BY f.stage_id, f.coarse ORDER BY f.fine) - f.n
                    AS bigint) AS before
        FROM fine AS f
    ) AS x
    GROUP BY x.stage_id, x.coarse
),
in_fine AS MATERIALIZED (
    SELECT i.stage_id, i.rank, f.bins[k.i] AS fine, i.rank_in - f.befores[k.i] AS rank_in
    FROM in_coarse AS i
    JOIN fine_cum AS f ON f.stage_id = i.stage_id AND f.coarse = i.coarse
    CROSS JOIN LATERAL (SELECT width_bucket(i.rank_in, f.befores) AS i) AS k
),
value_requests AS MATERIALIZED (
    SELECT i.stage_id, i.fine, max(i.rank_in) + 1 AS needed,
           orchdash.bin_floor(i.fine) AS lo, orchdash.bin_floor(i.fine + 1) AS hi
    FROM in_fine AS i
    GROUP BY i.stage_id, i.fine
),
-- 3. The values at the wanted ranks. Only comparisons of stage_duration and recorded_at with
-- values, which RLS lets bound the index scan.
fine_values AS MATERIALIZED (
    SELECT r.stage_id, r.fine, v.seconds
    FROM value_requests AS r
    CROSS JOIN LATERAL (
        SELECT array_agg(y.s ORDER BY y.s) AS seconds
        FROM (
            SELECT CAST(extract(epoch FROM m.stage_duration) AS double precision) AS s
            FROM orchestration_metrics AS m
            WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
              AND m.stage_id = r.stage_id
              AND m.stage_duration IS NOT NULL
              AND m.stage_duration >= r.lo AND m.stage_duration < r.hi
              AND m.recorded_at >= CAST(:start_ts AS timestamptz)
              AND m.recorded_at < CAST(:end_ts AS timestamptz)
            ORDER BY 1
            LIMIT r.needed
        ) AS y
    ) AS v
),
at_rank AS (
    SELECT i.stage_id, i.rank, v.seconds[CAST(i.rank_in AS integer) + 1] AS seconds
    FROM in_fine AS i
    JOIN fine_values AS v ON v.stage_id = i.stage_id AND v.fine = i.fine
),
binned AS (
    SELECT
        t.stage_id,
        t.total AS measured,
        array_agg(
            CASE WHEN hi.rank > lo.rank
                THEN lo.seconds + (hi.seconds - lo.seconds)
                    * (f.p * CAST(t.total - 1 AS double precision) - CAST(lo.rank AS double precision))
                ELSE lo.seconds END
            ORDER BY f.i
        ) AS percentiles
    FROM cum AS t
    CROSS JOIN fractions AS f
    -- Left joins: an entry for every fraction, even if a value went missing (it cannot under
    -- RLS).
    LEFT JOIN at_rank AS lo
      ON lo.stage_id = t.stage_id
     AND lo.rank = CAST(floor(f.p * CAST(t.total - 1 AS double precision)) AS bigint)
    LEFT JOIN at_rank AS hi
      ON hi.stage_id = t.stage_id
     AND hi.rank = CAST(ceil(f.p * CAST(t.total - 1 AS double precision)) AS bigint)
    GROUP BY t.stage_id, t.total
)
SELECT stage_id, measured, percentiles FROM raw
UNION ALL
SELECT stage_id, measured, percentiles FROM binned
