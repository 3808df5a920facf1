"""Rollups that let a page cost what it shows, not the rows behind it; exact, and under RLS.

Everything lives in the schema ``orchdash`` (not exposed by PostgREST), readable by
``authenticated`` through the same company policy as the metrics, in the index-friendly shape
``company_id = ANY (ARRAY(SELECT ...))`` (an InitPlan, usable as an index condition):

- ``rollup_settings``: the one time zone whose local days the rollups use (ORCHDASH_TIMEZONE
  when migrated; ``orchdash.rollup_rebuild(zone)`` changes it). Queries in another zone read the
  raw rows instead.
- ``metric_totals``: the additive sums behind every number (rows, actions, weighted-rate
  numerators and weights, duration count and sum, ...) per company, venture, stage (or all
  stages) and local day, and again per local month. A period is whole months plus edge days.
- ``duration_days``: per company, stage and day, how many durations fell into each bin
  (``duration_bin``: 300 bins per e-fold of 1 + |seconds|, 0.33 % wide, bounded by intervals).
- ``duration_day_prefix`` / ``duration_month_prefix``: cumulative histograms, coarse (10 bins)
  up to each day and fine up to each month boundary, so the histogram of any period is a
  difference of two arrays plus a few days. Exact percentiles then read the few raw durations of
  one bin through the index ``orchdash_metrics_durations``, as the user, under RLS (see
  queries/sql/duration_percentiles.sql). ``irregular_durations`` counts durations of a year or
  more, whose order by seconds and by comparison may differ: periods with any are sorted raw.
- ``rollup_log``: what changed since the last fold: each inserted, deleted or updated metric
  row's counted columns with a sign (+1 new, -1 gone). Statement-level triggers on
  orchestration_metrics append them (one INSERT ... SELECT per statement, from its transition
  tables); queries add the log's rows to the rollups', so answers are exact at once.
  ``rollup_fold()`` moves the log into the rollups, at a cost in proportion to what changed; it
  is scheduled off the writers' path (queries/folding.py, every few seconds under `orchdash
  run`), and writers fold themselves only as a safety net (``fold_after``, ``fold_rows``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from queries import config
from queries.filters import valid_timezone

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same rule as the metrics' select policy, as an InitPlan that an index scan can use.
ACTIVE_COMPANIES = (
    "company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a"
    " WHERE a.user_id = auth.uid() AND a.is_active))"
)
TENANT_TABLES = (
    "rollup_log",
    "metric_totals",
    "duration_days",
    "irregular_durations",
    "duration_day_prefix",
    "duration_month_prefix",
)
READ_FUNCTIONS = (
    "bin_floor(integer)",
    "log_bin(double precision)",
    "duration_bin(interval)",
    "coarse_bin(integer)",
)

# Each metric row as the rollups count it: its keys, its local day in the rollup zone, and the
# addends whose sums give every number (a NULL counts as nothing; a rate's numerator and weight
# only where the rate and action_count > 0). The spec's numerics have fixed scales, so their
# sums are kept exactly as integers: error_num in 1e-4, handoff_num, compute_cost (cents),
# quality_sum and confidence_sum in 1e-2; seconds stay numeric. One list for the view over the
# table and for the log written from a statement's transition tables (both alias the row "m").
ADDENDS = """
    m.company_id,
    m.venture_id,
    m.stage_id,
    m.recorded_at,
    (m.recorded_at AT TIME ZONE (SELECT s.zone FROM orchdash.rollup_settings AS s))::date AS day,
    m.stage_duration,
    -- A year or more: extract(epoch) counts it as 365.25 days, comparison as 360, so the two
    -- orders may differ; exact percentiles over such durations sort the raw rows instead.
    extract(year FROM m.stage_duration) <> 0 AS irregular,
    coalesce(m.action_count, 0)::bigint AS actions,
    coalesce(m.success_count, 0)::bigint AS successes,
    coalesce(m.failure_count, 0)::bigint AS failures,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0
        THEN (m.error_rate * 10000)::bigint * m.action_count ELSE 0 END AS error_num,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0
        THEN m.action_count ELSE 0 END::bigint AS error_actions,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0
        THEN (m.handoff_efficiency * 100)::bigint * m.action_count ELSE 0 END AS handoff_num,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0
        THEN m.action_count ELSE 0 END::bigint AS handoff_actions,
    (m.stage_duration IS NOT NULL)::integer::bigint AS durations,
    coalesce(extract(epoch FROM m.stage_duration), 0) AS duration_sum,
    coalesce(m.chairman_interventions, 0)::bigint AS interventions,
    coalesce(m.chairman_approvals, 0)::bigint AS approvals,
    coalesce(m.chairman_rejections, 0)::bigint AS rejections,
    coalesce((m.compute_cost * 100)::bigint, 0) AS compute_cost,
    coalesce(m.api_calls_made, 0)::bigint AS api_calls,
    coalesce((m.data_quality_score * 100)::bigint, 0) AS quality_sum,
    (m.data_quality_score IS NOT NULL)::integer::bigint AS quality_n,
    coalesce((m.confidence_score * 100)::bigint, 0) AS confidence_sum,
    (m.confidence_score IS NOT NULL)::integer::bigint AS confidence_n,
    (m.compute_cost IS NOT NULL)::integer::bigint AS cost_n,
    coalesce(extract(epoch FROM m.agent_response_time), 0) AS response_sum,
    (m.agent_response_time IS NOT NULL)::integer::bigint AS response_n
"""
# The summed columns of metric_totals and the log, beside rows.
SUMS = (
    "actions successes failures error_num error_actions handoff_num handoff_actions durations"
    " duration_sum interventions approvals rejections compute_cost api_calls quality_sum"
    " quality_n confidence_sum confidence_n cost_n response_sum response_n"
).split()
# Rows without a company are visible to nobody; rows without a time fall in no period.
COUNTED = "m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL"


def _sums(alias: str, factor: str = "") -> str:
    return ", ".join(f"sum({factor}{alias}.{c})" for c in SUMS)


SCHEMA = """
CREATE SCHEMA orchdash;
COMMENT ON SCHEMA orchdash IS 'orchdash: rollups of orchestration_metrics (migration 0004)';
REVOKE ALL ON SCHEMA orchdash FROM PUBLIC;
GRANT USAGE ON SCHEMA orchdash TO authenticated;

CREATE TABLE orchdash.rollup_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    zone text NOT NULL,
    -- Folding is scheduled (queries/folding.py, started by `orchdash run`); writers fold only
    -- as a safety net, when the log is this old or a statement brought this many rows.
    fold_after interval NOT NULL DEFAULT interval '5 minutes',
    fold_rows integer NOT NULL DEFAULT 100000
);

-- Sums only, so that any set of days or months adds up exactly: integers (the spec's fixed-scale
-- numerics scaled, see ADDENDS) and seconds as numeric. No rounding anywhere.
CREATE TABLE orchdash.metric_totals (
    company_id uuid NOT NULL,
    span text NOT NULL CHECK (span IN ('day', 'month')),
    by_stage boolean NOT NULL,   -- false: summed over all stages (stage_id is NULL then)
    day date NOT NULL,           -- the local day, or the first day of the local month
    venture_id uuid,
    stage_id integer,
    rows bigint NOT NULL,
    actions bigint NOT NULL,
    successes bigint NOT NULL,
    failures bigint NOT NULL,
    error_num bigint NOT NULL,       -- error_rate x action_count, in 1e-4
    error_actions bigint NOT NULL,
    handoff_num bigint NOT NULL,     -- handoff_efficiency x action_count, in 1e-2
    handoff_actions bigint NOT NULL,
    durations bigint NOT NULL,
    duration_sum numeric NOT NULL,
    interventions bigint NOT NULL,
    approvals bigint NOT NULL,
    rejections bigint NOT NULL,
    compute_cost bigint NOT NULL,    -- cents
    api_calls bigint NOT NULL,
    quality_sum bigint NOT NULL,     -- in 1e-2
    quality_n bigint NOT NULL,
    confidence_sum bigint NOT NULL,  -- in 1e-2
    confidence_n bigint NOT NULL,
    cost_n bigint NOT NULL,
    response_sum numeric NOT NULL,
    response_n bigint NOT NULL
);
-- The reading order of every page: company, grouping, span, then a range of days.
CREATE UNIQUE INDEX metric_totals_key ON orchdash.metric_totals
    (company_id, by_stage, span, day, venture_id, stage_id) NULLS NOT DISTINCT;

-- What changed since the last fold: the counted columns of each changed metric row, as they are
-- in orchestration_metrics, with a sign (appended in bulk, read whole, emptied by folds).
-- orchdash.log_facts reads it as metric_facts reads the table.
CREATE TABLE orchdash.rollup_log (
    company_id uuid NOT NULL,
    venture_id uuid,
    stage_id integer,
    recorded_at timestamptz NOT NULL,
    stage_duration interval,
    handoff_efficiency numeric(5,2),
    error_rate numeric(5,4),
    action_count integer,
    success_count integer,
    failure_count integer,
    agent_response_time interval,
    chairman_interventions integer,
    chairman_approvals integer,
    chairman_rejections integer,
    compute_cost numeric(10,2),
    api_calls_made integer,
    data_quality_score numeric(5,2),
    confidence_score numeric(5,2),
    sign smallint NOT NULL CHECK (sign IN (-1, 1)),
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- For the writers' one question: is anything older than fold_after? (the first entry answers)
CREATE INDEX rollup_log_logged_at ON orchdash.rollup_log (logged_at);

CREATE TABLE orchdash.duration_days (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    bins integer[] NOT NULL,     -- fine bins, ascending
    counts integer[] NOT NULL,   -- durations in each
    PRIMARY KEY (company_id, stage_id, day)
);
-- Durations of a year or more per company, stage and day (normally none).
CREATE TABLE orchdash.irregular_durations (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (company_id, stage_id, day)
);
CREATE TABLE orchdash.duration_day_prefix (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,           -- cumulative over all days up to and including this one
    base integer NOT NULL,       -- the coarse bin of counts[1]
    counts integer[] NOT NULL,
    PRIMARY KEY (company_id, stage_id, day)
);
CREATE TABLE orchdash.duration_month_prefix (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    month date NOT NULL,         -- cumulative over all days before this first of a month
    base integer NOT NULL,       -- the fine bin of counts[1]
    counts integer[] NOT NULL,
    PRIMARY KEY (company_id, stage_id, month)
);
"""

FUNCTIONS = r"""
-- Duration bins: bin f holds the durations d with bin_floor(f) <= d < bin_floor(f + 1), 300 bins
-- per e-fold of 1 + |seconds| (0.33 % wide), symmetric around zero. The boundaries are
-- intervals and the membership is decided by interval comparison, which PostgreSQL treats as
-- leakproof: under RLS a range of bins can therefore bound an index scan on stage_duration.
-- Bins -8701 and 8700 are open-ended (|d| >= 3.9e12 s).
CREATE FUNCTION orchdash.bin_floor(f integer) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN f > 8700 THEN interval '178000000 years'
    WHEN f < -8700 THEN interval '-178000000 years'
    ELSE make_interval(secs => round(CAST(sign(f) * (exp(abs(f) / 300.0) - 1) AS numeric), 6))
END;

-- The bin of a duration: the logarithm of its seconds, unless that lies within 2e-4 of a bin's
-- edge (where the microsecond rounding of bin_floor could matter), then interval comparison
-- settles it. Exact, and consistent with the order of extract(epoch ...), for every interval
-- with less than twelve months (see irregular in metric_facts). One expression, so that it is
-- inlined: it runs for every row a rollup is built from.
CREATE FUNCTION orchdash.log_bin(seconds double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN seconds IS NULL THEN NULL
    WHEN seconds > 1e300 THEN 8700.5
    WHEN seconds < -1e300 THEN -8700.5
    ELSE greatest(-8700.5, least(8700.5, sign(seconds) * 300 * ln(1 + abs(seconds))))
END;

CREATE FUNCTION orchdash.duration_bin(d interval) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN abs(orchdash.log_bin(date_part('epoch', d))
             - round(orchdash.log_bin(date_part('epoch', d)))) > 2e-4
    THEN floor(orchdash.log_bin(date_part('epoch', d)))::integer
    ELSE floor(orchdash.log_bin(date_part('epoch', d)))::integer
        - (d < orchdash.bin_floor(
               floor(orchdash.log_bin(date_part('epoch', d)))::integer
           ))::integer
        + (d >= orchdash.bin_floor(
               floor(orchdash.log_bin(date_part('epoch', d)))::integer
               + 1
           ))::integer
END;

-- Ten fine bins to a coarse one (floor division, also below zero).
CREATE FUNCTION orchdash.coarse_bin(fine integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (fine - ((fine % 10) + 10) % 10) / 10;

"""

# security_invoker: read by a user, the metrics' RLS applies as that user.
VIEW = f"""
CREATE VIEW orchdash.metric_facts WITH (security_invoker = true) AS
SELECT {ADDENDS.strip()},
    CAST(extract(epoch FROM m.stage_duration) AS double precision) AS seconds
FROM public.orchestration_metrics AS m
WHERE {COUNTED};

CREATE VIEW orchdash.log_facts WITH (security_invoker = true) AS
SELECT {ADDENDS.strip()},
    m.sign
FROM orchdash.rollup_log AS m;
"""  # noqa: S608 - fixed names of this module, no input

PREFIXES = r"""
-- A dense histogram (counts[1] is bin base) widened with zeros until it holds bin b.
CREATE FUNCTION orchdash.dense_widened(p_base integer, p_counts integer[], b integer,
                                       OUT base integer, OUT counts integer[])
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF p_base IS NULL THEN
        base := b;
        counts := ARRAY[0];
        RETURN;
    END IF;
    base := least(p_base, b);
    counts := array_fill(0, ARRAY[p_base - base]) || p_counts
        || array_fill(0, ARRAY[greatest(b - (p_base + cardinality(p_counts) - 1), 0)]);
END
$$;

-- Recompute the cumulative duration histograms of one company and stage from p_from on, from
-- duration_days. Cost: the days from p_from on (one, for a fold of today).
CREATE FUNCTION orchdash.rebuild_duration_prefixes(p_company uuid, p_stage integer, p_from date)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    c_base integer;
    c_counts integer[];
    f_base integer;
    f_counts integer[];
    month_open date := date_trunc('month', p_from)::date;
    month_has_rows boolean := false;
    r record;
    i integer;
    b integer;
    month_of_day date;
BEGIN
    SELECT p.base, p.counts INTO c_base, c_counts FROM orchdash.duration_day_prefix AS p
    WHERE p.company_id = p_company AND p.stage_id = p_stage AND p.day < p_from
    ORDER BY p.day DESC LIMIT 1;
    SELECT p.base, p.counts INTO f_base, f_counts FROM orchdash.duration_month_prefix AS p
    WHERE p.company_id = p_company AND p.stage_id = p_stage AND p.month <= month_open
    ORDER BY p.month DESC LIMIT 1;
    DELETE FROM orchdash.duration_day_prefix AS p
    WHERE p.company_id = p_company AND p.stage_id = p_stage AND p.day >= p_from;
    DELETE FROM orchdash.duration_month_prefix AS p
    WHERE p.company_id = p_company AND p.stage_id = p_stage AND p.month > p_from;
    FOR r IN
        SELECT d.day, d.bins, d.counts FROM orchdash.duration_days AS d
        WHERE d.company_id = p_company AND d.stage_id = p_stage AND d.day >= month_open
        ORDER BY d.day
    LOOP
        month_of_day := date_trunc('month', r.day)::date;
        IF month_of_day > month_open THEN
            -- The boundary after the month just finished: everything before it. Boundaries up
            -- to this day's month hold the same (lookups take the latest at or before).
            IF month_has_rows THEN
                INSERT INTO orchdash.duration_month_prefix
                VALUES (p_company, p_stage, (month_open + interval '1 month')::date, f_base,
                        f_counts);
            END IF;
            month_open := month_of_day;
        END IF;
        month_has_rows := true;
        FOR i IN 1 .. cardinality(r.bins) LOOP
            b := r.bins[i];
            IF f_base IS NULL OR b < f_base OR b - f_base >= cardinality(f_counts) THEN
                SELECT g.base, g.counts INTO f_base, f_counts
                FROM orchdash.dense_widened(f_base, f_counts, b) AS g;
            END IF;
            f_counts[b - f_base + 1] := f_counts[b - f_base + 1] + r.counts[i];
            IF r.day >= p_from THEN
                b := orchdash.coarse_bin(b);
                IF c_base IS NULL OR b < c_base OR b - c_base >= cardinality(c_counts) THEN
                    SELECT g.base, g.counts INTO c_base, c_counts
                    FROM orchdash.dense_widened(c_base, c_counts, b) AS g;
                END IF;
                c_counts[b - c_base + 1] := c_counts[b - c_base + 1] + r.counts[i];
            END IF;
        END LOOP;
        IF r.day >= p_from THEN
            INSERT INTO orchdash.duration_day_prefix
            VALUES (p_company, p_stage, r.day, c_base, c_counts);
        END IF;
    END LOOP;
    IF month_has_rows THEN
        INSERT INTO orchdash.duration_month_prefix
        VALUES (p_company, p_stage, (month_open + interval '1 month')::date, f_base, f_counts);
    END IF;
END
$$;
"""

TOTALS_COLUMNS = "company_id, span, by_stage, day, venture_id, stage_id, rows, " + ", ".join(SUMS)

# Everything again from the raw rows, in p_zone (NULL: keep the zone). Writers wait meanwhile.
REBUILD = f"""
CREATE FUNCTION orchdash.rollup_rebuild(p_zone text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET work_mem = '256MB' AS $$
DECLARE
    r record;
    done bigint;
BEGIN
    LOCK TABLE public.orchestration_metrics IN SHARE MODE;
    IF p_zone IS NOT NULL THEN
        PERFORM now() AT TIME ZONE p_zone;  -- an unknown zone fails here, before any change
        UPDATE orchdash.rollup_settings SET zone = p_zone;
    END IF;
    TRUNCATE orchdash.rollup_log, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations;
    INSERT INTO orchdash.metric_totals ({TOTALS_COLUMNS})
    SELECT f.company_id, 'day', true, f.day, f.venture_id, f.stage_id, count(*), {_sums("f")}
    FROM orchdash.metric_facts AS f
    GROUP BY f.company_id, f.day, f.venture_id, f.stage_id
    ORDER BY f.company_id, f.day, f.venture_id, f.stage_id;
    GET DIAGNOSTICS done = ROW_COUNT;
    INSERT INTO orchdash.metric_totals ({TOTALS_COLUMNS})
    SELECT t.company_id, 'day', false, t.day, t.venture_id, NULL, sum(t.rows), {_sums("t")}
    FROM orchdash.metric_totals AS t
    WHERE t.span = 'day' AND t.by_stage
    GROUP BY t.company_id, t.day, t.venture_id
    ORDER BY t.company_id, t.day, t.venture_id;
    -- Months are sums of their days.
    INSERT INTO orchdash.metric_totals ({TOTALS_COLUMNS})
    SELECT t.company_id, 'month', t.by_stage, date_trunc('month', t.day)::date, t.venture_id,
           t.stage_id, sum(t.rows), {_sums("t")}
    FROM orchdash.metric_totals AS t
    WHERE t.span = 'day'
    GROUP BY t.company_id, t.by_stage, date_trunc('month', t.day), t.venture_id, t.stage_id
    ORDER BY 1, 3, 4, 5, 6;
    INSERT INTO orchdash.duration_days
    SELECT b.company_id, b.stage_id, b.day, array_agg(b.bin ORDER BY b.bin),
           array_agg(b.n ORDER BY b.bin)
    FROM (
        SELECT f.company_id, f.stage_id, f.day, orchdash.duration_bin(f.stage_duration) AS bin,
               count(*)::integer AS n
        FROM orchdash.metric_facts AS f
        WHERE f.stage_id IS NOT NULL AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ) AS b
    GROUP BY b.company_id, b.stage_id, b.day
    ORDER BY b.company_id, b.stage_id, b.day;
    INSERT INTO orchdash.irregular_durations
    SELECT f.company_id, f.stage_id, f.day, count(*)
    FROM orchdash.metric_facts AS f
    WHERE f.stage_id IS NOT NULL AND f.irregular
    GROUP BY 1, 2, 3;
    FOR r IN SELECT DISTINCT d.company_id, d.stage_id FROM orchdash.duration_days AS d LOOP
        PERFORM orchdash.rebuild_duration_prefixes(r.company_id, r.stage_id, '-infinity');
    END LOOP;
    ANALYZE orchdash.metric_totals, orchdash.duration_days, orchdash.duration_day_prefix,
            orchdash.duration_month_prefix, orchdash.irregular_durations;
    RETURN done;
END
$$;
"""  # noqa: S608 - fixed names of this module, no input

# Fold the log rows this transaction can see into the rollups: deltas added to the sums, bins
# merged into the day histograms, prefixes recomputed from the earliest day touched. One fold at
# a time; one that cannot get the lock leaves the log to the next (queries stay exact).
FOLD = f"""
CREATE FUNCTION orchdash.rollup_fold() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET work_mem = '64MB' AS $$
DECLARE
    r record;
    done bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('orchdash.rollup_fold')) THEN
        RETURN 0;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS orchdash_deltas ON COMMIT DROP AS
    SELECT {TOTALS_COLUMNS} FROM orchdash.metric_totals WITH NO DATA;
    CREATE TEMP TABLE IF NOT EXISTS orchdash_bins (company_id uuid, stage_id integer, day date,
                                                   bin integer, n bigint) ON COMMIT DROP;
    TRUNCATE pg_temp.orchdash_deltas, pg_temp.orchdash_bins;
    -- One pass over the log rows taken: per company, day, venture and stage the deltas of the
    -- sums; per company, stage and day those of the duration bins; those of the long durations.
    WITH taken AS (DELETE FROM orchdash.rollup_log RETURNING *),
    facts AS NOT MATERIALIZED (SELECT {ADDENDS.strip()}, m.sign FROM taken AS m),
    sums AS (
        INSERT INTO pg_temp.orchdash_deltas ({TOTALS_COLUMNS})
        SELECT f.company_id, 'day', true, f.day, f.venture_id, f.stage_id, sum(f.sign),
               {_sums("f", "f.sign * ")}
        FROM facts AS f
        GROUP BY f.company_id, f.day, f.venture_id, f.stage_id
    ),
    bins AS (
        INSERT INTO pg_temp.orchdash_bins
        SELECT f.company_id, f.stage_id, f.day, orchdash.duration_bin(f.stage_duration),
               sum(f.sign)
        FROM facts AS f
        WHERE f.stage_id IS NOT NULL AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ),
    long AS (
        INSERT INTO orchdash.irregular_durations AS i
        SELECT f.company_id, f.stage_id, f.day, sum(f.sign)
        FROM facts AS f
        WHERE f.stage_id IS NOT NULL AND f.irregular
        GROUP BY 1, 2, 3
        ON CONFLICT (company_id, stage_id, day) DO UPDATE SET n = i.n + excluded.n
    )
    SELECT count(*) INTO done FROM taken;
    IF done = 0 THEN
        RETURN 0;
    END IF;
    DELETE FROM orchdash.irregular_durations WHERE n = 0;

    INSERT INTO orchdash.metric_totals AS t ({TOTALS_COLUMNS})
    SELECT d.company_id, g.span, g.by_stage,
           CASE WHEN g.span = 'day' THEN d.day ELSE date_trunc('month', d.day)::date END,
           d.venture_id, CASE WHEN g.by_stage THEN d.stage_id END,
           sum(d.rows), {_sums("d")}
    FROM pg_temp.orchdash_deltas AS d
    CROSS JOIN (VALUES ('day', true), ('day', false), ('month', true), ('month', false))
        AS g(span, by_stage)
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (company_id, by_stage, span, day, venture_id, stage_id) DO UPDATE SET
        rows = t.rows + excluded.rows,
        {", ".join(f"{c} = t.{c} + excluded.{c}" for c in SUMS)};
    -- A group all of whose rows went away (by the key's prefix: company, grouping, span, day).
    DELETE FROM orchdash.metric_totals AS t
    USING (
        SELECT DISTINCT d.company_id, g.by_stage, g.span,
               CASE WHEN g.span = 'day' THEN d.day ELSE date_trunc('month', d.day)::date END AS day
        FROM pg_temp.orchdash_deltas AS d
        CROSS JOIN (VALUES ('day', true), ('day', false), ('month', true), ('month', false))
            AS g(span, by_stage)
    ) AS k
    WHERE t.company_id = k.company_id AND t.by_stage = k.by_stage AND t.span = k.span
      AND t.day = k.day AND t.rows = 0;

    -- The touched days' histograms, merged with their deltas.
    INSERT INTO pg_temp.orchdash_bins
    SELECT d.company_id, d.stage_id, d.day, e.bin, e.n
    FROM orchdash.duration_days AS d
    JOIN (SELECT DISTINCT company_id, stage_id, day FROM pg_temp.orchdash_bins) AS k
      ON k.company_id = d.company_id AND k.stage_id = d.stage_id AND k.day = d.day
    CROSS JOIN LATERAL unnest(d.bins, d.counts) AS e(bin, n);
    DELETE FROM orchdash.duration_days AS d
    USING (SELECT DISTINCT company_id, stage_id, day FROM pg_temp.orchdash_bins) AS k
    WHERE k.company_id = d.company_id AND k.stage_id = d.stage_id AND k.day = d.day;
    INSERT INTO orchdash.duration_days
    SELECT b.company_id, b.stage_id, b.day, array_agg(b.bin ORDER BY b.bin),
           array_agg(b.n::integer ORDER BY b.bin)
    FROM (
        SELECT company_id, stage_id, day, bin, sum(n) AS n FROM pg_temp.orchdash_bins
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
    ) AS b
    GROUP BY b.company_id, b.stage_id, b.day;

    FOR r IN
        SELECT b.company_id, b.stage_id, min(b.day) AS day FROM pg_temp.orchdash_bins AS b
        GROUP BY 1, 2
    LOOP
        PERFORM orchdash.rebuild_duration_prefixes(r.company_id, r.stage_id, r.day);
    END LOOP;
    RETURN done;
END
$$;
"""  # noqa: S608 - fixed names of this module, no input

LOG_COLUMNS = (
    "company_id, venture_id, stage_id, recorded_at, stage_duration, handoff_efficiency,"
    " error_rate, action_count, success_count, failure_count, agent_response_time,"
    " chairman_interventions, chairman_approvals, chairman_rejections, compute_cost,"
    " api_calls_made, data_quality_score, confidence_score"
)

# Statement-level triggers: the statement's rows into the log, new ones +1, gone ones -1.
TRIGGER_FUNCTIONS = f"""
CREATE FUNCTION orchdash.log_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    changed bigint := 0;
    more bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO orchdash.rollup_log ({LOG_COLUMNS}, sign)
        SELECT {LOG_COLUMNS}, 1 FROM inserted AS m WHERE {COUNTED};
        GET DIAGNOSTICS changed = ROW_COUNT;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO orchdash.rollup_log ({LOG_COLUMNS}, sign)
        SELECT {LOG_COLUMNS}, -1 FROM deleted AS m WHERE {COUNTED};
        GET DIAGNOSTICS more = ROW_COUNT;
        changed := changed + more;
    END IF;
    PERFORM orchdash.fold_if_due(changed);
    RETURN NULL;
END
$$;

CREATE FUNCTION orchdash.clear_on_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    TRUNCATE orchdash.rollup_log, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations;
    RETURN NULL;
END
$$;

-- A writer folds once the log's oldest row is fold_after old, or at once after a statement of
-- fold_rows rows or more; a failing fold never fails the write (the log stays, queries add it).
-- Asked after every writing statement, so it must not read the log: its oldest entry comes from
-- the index on logged_at (the log's statistics, taken when it was empty, would pick a scan).
CREATE FUNCTION orchdash.fold_if_due(p_rows bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET enable_seqscan = off AS $$
DECLARE
    settings orchdash.rollup_settings;
    oldest timestamptz;
BEGIN
    SELECT * INTO settings FROM orchdash.rollup_settings;
    SELECT min(l.logged_at) INTO oldest FROM orchdash.rollup_log AS l;
    IF p_rows >= settings.fold_rows OR oldest < clock_timestamp() - settings.fold_after THEN
        BEGIN
            PERFORM orchdash.rollup_fold();
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'orchdash: rollup fold skipped: %', SQLERRM;
        END;
    END IF;
END
$$;
"""  # noqa: S608 - fixed names of this module, no input

TRIGGERS = """
CREATE TRIGGER orchdash_rollup_insert AFTER INSERT ON public.orchestration_metrics
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes();
CREATE TRIGGER orchdash_rollup_update AFTER UPDATE ON public.orchestration_metrics
    REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes();
CREATE TRIGGER orchdash_rollup_delete AFTER DELETE ON public.orchestration_metrics
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes();
CREATE TRIGGER orchdash_rollup_truncate AFTER TRUNCATE ON public.orchestration_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.clear_on_truncate();
"""

# Beside the spec's five. Exact percentiles read the raw durations of one bin of one stage:
# company, stage, then the duration (bins are ranges of it), with the time included for the
# period, so that the read never visits the table.
DURATION_INDEX = """
CREATE INDEX orchdash_metrics_durations ON public.orchestration_metrics
    (company_id, stage_id, stage_duration) INCLUDE (recorded_at)
WHERE stage_duration IS NOT NULL
"""
# The duration rollups have no venture: with ventures chosen, percentiles sort the raw rows of
# those ventures, read here by venture, stage and time without visiting the table (the company
# for RLS and the filter).
VENTURE_INDEX = """
CREATE INDEX orchdash_metrics_venture_stages ON public.orchestration_metrics
    (venture_id, stage_id, recorded_at) INCLUDE (stage_duration, company_id)
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for piece in (FUNCTIONS, VIEW, PREFIXES, REBUILD, FOLD, TRIGGER_FUNCTIONS):
        op.execute(piece)
    zone = valid_timezone(config.timezone_name())
    op.get_bind().execute(
        sa.text("INSERT INTO orchdash.rollup_settings (zone) VALUES (:zone)"), {"zone": zone}
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE orchdash.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_company_access ON orchdash.{table}"
            f" FOR SELECT TO authenticated USING ({ACTIVE_COMPANIES})"
        )
    # Supabase's default privileges may grant more on new objects: only reads, only these.
    op.execute(
        "REVOKE ALL ON ALL TABLES IN SCHEMA orchdash FROM PUBLIC, anon, authenticated, service_role"
    )
    op.execute(
        "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA orchdash FROM PUBLIC, anon, authenticated,"
        " service_role"
    )
    op.execute(
        "GRANT SELECT ON orchdash.rollup_settings, orchdash.metric_facts, orchdash.log_facts, "
        + ", ".join(f"orchdash.{t}" for t in TENANT_TABLES)
        + " TO authenticated"
    )
    for function in READ_FUNCTIONS:
        op.execute(f"GRANT EXECUTE ON FUNCTION orchdash.{function} TO authenticated")
    op.execute(DURATION_INDEX)
    op.execute(VENTURE_INDEX)
    op.execute(TRIGGERS)
    op.execute("SELECT orchdash.rollup_rebuild()")


def downgrade() -> None:
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(
            f"DROP TRIGGER IF EXISTS orchdash_rollup_{trigger} ON public.orchestration_metrics"
        )
    op.execute("DROP INDEX IF EXISTS public.orchdash_metrics_durations")
    op.execute("DROP INDEX IF EXISTS public.orchdash_metrics_venture_stages")
    op.execute("DROP SCHEMA IF EXISTS orchdash CASCADE")
