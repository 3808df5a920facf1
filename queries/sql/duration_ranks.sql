-- The durations (seconds) at the ranks percentile_cont reads, per stage, from the duration
-- rollups (orchdash.duration_bin: 0.33 % wide bins, ten to a coarse bin). The caller
-- (durations.stage_percentiles) found each rank's coarse bin in duration_histograms.sql: it lists
-- per rank (:rank_stages, :ranks, counted from 0) its coarse bin (:rank_coarse) and its rank
-- within that bin (:rank_in). Here:
--  1. the counts of that bin's ten fine bins over the period: the difference of two cumulative
--     arrays at the month boundaries [month_lo, month_hi) (duration_month_prefix), plus or minus
--     the days of the edge ranges (edge_lo, edge_hi, edge_sign) from duration_days, plus what
--     changed since the last fold (orchdash.rollup_log, with its sign);
--  2. each rank's fine bin, whose raw durations in the period are read in order through the
--     index orchdash_metrics_durations (bins are ranges of stage_duration) up to the rank: a
--     few hundred rows per rank at ten million.
-- Everything is read as the user, under RLS.
-- params: company_ids, rank_stages, ranks, rank_coarse, rank_in, start_ts, end_ts, first_day, last_day, month_lo, month_hi, edge_lo, edge_hi, edge_sign
WITH in_coarse AS MATERIALIZED (
    SELECT r.stage_id, r.rank, r.coarse, r.rank_in
    FROM unnest(CAST(:rank_stages AS integer[]), CAST(:ranks AS bigint[]),
                CAST(:rank_coarse AS integer[]), CAST(:rank_in AS bigint[]))
        AS r(stage_id, rank, coarse, rank_in)
),
coarse_bins AS MATERIALIZED (
    SELECT DISTINCT i.stage_id, i.coarse FROM in_coarse AS i
),
wanted_stages AS MATERIALIZED (
    SELECT DISTINCT b.stage_id FROM coarse_bins AS b
),
chosen AS MATERIALIZED (
    SELECT DISTINCT c.company_id FROM unnest(CAST(:company_ids AS uuid[])) AS c(company_id)
),
-- What changed since the last fold in the period: each duration's fine bin, with its sign.
logged AS MATERIALIZED (
    SELECT l.stage_id, orchdash.duration_bin(l.stage_duration) AS fine, sum(l.sign) AS n
    FROM orchdash.log_facts AS l
    WHERE l.company_id IN (SELECT company_id FROM chosen)
      AND l.day >= CAST(:first_day AS date) AND l.day <= CAST(:last_day AS date)
      AND l.stage_id IN (SELECT stage_id FROM wanted_stages)
      AND l.stage_duration IS NOT NULL
    GROUP BY 1, 2
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
-- 1. Fine counts within each coarse bin that holds a wanted rank.
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
-- 2. The values at the wanted ranks. Only comparisons of stage_duration and recorded_at with
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
              -- include: _period(m)
            ORDER BY 1
            LIMIT r.needed
        ) AS y
    ) AS v
)
SELECT i.stage_id, i.rank, v.seconds[CAST(i.rank_in AS integer) + 1] AS seconds
FROM in_fine AS i
JOIN fine_values AS v ON v.stage_id = i.stage_id AND v.fine = i.fine
