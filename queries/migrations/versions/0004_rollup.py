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
- ``rollup_dirty``: (company, day) pairs whose rows changed since they were last folded in.
  Statement-level triggers on orchestration_metrics only append these marks (cheap for writers);
  queries correct the marked days from the raw rows, so answers are exact at once; a writer folds
  the marks into the rollups once the oldest is ``fold_after`` old (``rollup_fold``).

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
    "rollup_dirty",
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

SCHEMA = """
CREATE SCHEMA orchdash;
COMMENT ON SCHEMA orchdash IS 'orchdash: rollups of orchestration_metrics (migration 0004)';
REVOKE ALL ON SCHEMA orchdash FROM PUBLIC;
GRANT USAGE ON SCHEMA orchdash TO authenticated;

CREATE TABLE orchdash.rollup_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    zone text NOT NULL,
    fold_after interval NOT NULL DEFAULT interval '30 seconds'
);

CREATE TABLE orchdash.rollup_dirty (
    company_id uuid NOT NULL,
    day date NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rollup_dirty_company_day ON orchdash.rollup_dirty (company_id, day);
CREATE INDEX rollup_dirty_marked_at ON orchdash.rollup_dirty (marked_at);

-- Sums only, so that any set of days or months adds up exactly. Counts are bigint; the sums of
-- numerics (money, scores, rates x actions, seconds) stay numeric: no rounding anywhere.
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
    error_num numeric NOT NULL,
    error_actions bigint NOT NULL,
    handoff_num numeric NOT NULL,
    handoff_actions bigint NOT NULL,
    durations bigint NOT NULL,
    duration_sum numeric NOT NULL,
    interventions bigint NOT NULL,
    approvals bigint NOT NULL,
    rejections bigint NOT NULL,
    compute_cost numeric NOT NULL,
    api_calls bigint NOT NULL,
    quality_sum numeric NOT NULL,
    quality_n bigint NOT NULL,
    confidence_sum numeric NOT NULL,
    confidence_n bigint NOT NULL,
    cost_n bigint NOT NULL,
    response_sum numeric NOT NULL,
    response_n bigint NOT NULL
);
-- The reading order of every page: company, grouping, span, then a range of days.
CREATE UNIQUE INDEX metric_totals_key ON orchdash.metric_totals
    (company_id, by_stage, span, day, venture_id, stage_id) NULLS NOT DISTINCT;

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

-- Each metric row as the rollups count it, in the rollup zone. security_invoker: read by a
-- user, the metrics' RLS applies as that user.
CREATE VIEW orchdash.metric_facts WITH (security_invoker = true) AS
SELECT
    m.company_id,
    m.venture_id,
    m.stage_id,
    m.recorded_at,
    (m.recorded_at AT TIME ZONE (SELECT s.zone FROM orchdash.rollup_settings AS s))::date AS day,
    m.stage_duration,
    CAST(extract(epoch FROM m.stage_duration) AS double precision) AS seconds,
    -- A year or more: extract(epoch) counts it as 365.25 days, comparison as 360, so the two
    -- orders may differ; exact percentiles over such durations sort the raw rows instead.
    extract(year FROM m.stage_duration) <> 0 AS irregular,
    coalesce(m.action_count, 0)::bigint AS actions,
    coalesce(m.success_count, 0)::bigint AS successes,
    coalesce(m.failure_count, 0)::bigint AS failures,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0
        THEN m.error_rate * m.action_count ELSE 0 END AS error_num,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0
        THEN m.action_count ELSE 0 END::bigint AS error_actions,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0
        THEN m.handoff_efficiency * m.action_count ELSE 0 END AS handoff_num,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0
        THEN m.action_count ELSE 0 END::bigint AS handoff_actions,
    (m.stage_duration IS NOT NULL)::integer::bigint AS durations,
    coalesce(extract(epoch FROM m.stage_duration), 0) AS duration_sum,
    coalesce(m.chairman_interventions, 0)::bigint AS interventions,
    coalesce(m.chairman_approvals, 0)::bigint AS approvals,
    coalesce(m.chairman_rejections, 0)::bigint AS rejections,
    coalesce(m.compute_cost, 0) AS compute_cost,
    coalesce(m.api_calls_made, 0)::bigint AS api_calls,
    coalesce(m.data_quality_score, 0) AS quality_sum,
    (m.data_quality_score IS NOT NULL)::integer::bigint AS quality_n,
    coalesce(m.confidence_score, 0) AS confidence_sum,
    (m.confidence_score IS NOT NULL)::integer::bigint AS confidence_n,
    (m.compute_cost IS NOT NULL)::integer::bigint AS cost_n,
    coalesce(extract(epoch FROM m.agent_response_time), 0) AS response_sum,
    (m.agent_response_time IS NOT NULL)::integer::bigint AS response_n
FROM public.orchestration_metrics AS m
-- Rows without a company are visible to nobody; rows without a time fall in no period.
WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL;

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

-- Recompute every rollup row of the given (company, local day) pairs from the raw rows, then
-- their months and the duration prefixes from the earliest of them on.
CREATE FUNCTION orchdash.refresh_days(p_companies uuid[], p_days date[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_zone text := (SELECT s.zone FROM orchdash.rollup_settings AS s);
    first_days record;
    stage integer;
BEGIN
    -- The keys as a table with statistics: a fold has a few, a rebuild every day there is.
    CREATE TEMP TABLE IF NOT EXISTS orchdash_refresh_keys (company_id uuid, day date)
        ON COMMIT DROP;
    TRUNCATE pg_temp.orchdash_refresh_keys;
    INSERT INTO pg_temp.orchdash_refresh_keys
    SELECT DISTINCT k.company_id, k.day FROM unnest(p_companies, p_days) AS k(company_id, day);
    ANALYZE pg_temp.orchdash_refresh_keys;

    DELETE FROM orchdash.metric_totals AS t USING pg_temp.orchdash_refresh_keys AS k
    WHERE t.span = 'day' AND t.company_id = k.company_id AND t.day = k.day;
    INSERT INTO orchdash.metric_totals
    SELECT f.company_id, 'day', true, f.day, f.venture_id, f.stage_id,
           count(*), sum(f.actions), sum(f.successes), sum(f.failures), sum(f.error_num),
           sum(f.error_actions), sum(f.handoff_num), sum(f.handoff_actions), sum(f.durations),
           sum(f.duration_sum), sum(f.interventions), sum(f.approvals), sum(f.rejections),
           sum(f.compute_cost), sum(f.api_calls), sum(f.quality_sum), sum(f.quality_n),
           sum(f.confidence_sum), sum(f.confidence_n), sum(f.cost_n),
           sum(f.response_sum), sum(f.response_n)
    FROM orchdash.metric_facts AS f
    JOIN pg_temp.orchdash_refresh_keys AS k
      ON k.company_id = f.company_id AND k.day = f.day
     AND f.recorded_at >= (k.day::timestamp AT TIME ZONE v_zone)
     AND f.recorded_at < ((k.day + 1)::timestamp AT TIME ZONE v_zone)
    GROUP BY f.company_id, f.day, f.venture_id, f.stage_id
    ORDER BY f.company_id, f.day, f.venture_id, f.stage_id;
    INSERT INTO orchdash.metric_totals
    SELECT t.company_id, 'day', false, t.day, t.venture_id, NULL,
           sum(t.rows), sum(t.actions), sum(t.successes), sum(t.failures), sum(t.error_num),
           sum(t.error_actions), sum(t.handoff_num), sum(t.handoff_actions), sum(t.durations),
           sum(t.duration_sum), sum(t.interventions), sum(t.approvals), sum(t.rejections),
           sum(t.compute_cost), sum(t.api_calls), sum(t.quality_sum), sum(t.quality_n),
           sum(t.confidence_sum), sum(t.confidence_n), sum(t.cost_n),
           sum(t.response_sum), sum(t.response_n)
    FROM orchdash.metric_totals AS t
    JOIN pg_temp.orchdash_refresh_keys AS k ON k.company_id = t.company_id AND k.day = t.day
    WHERE t.span = 'day' AND t.by_stage
    GROUP BY t.company_id, t.day, t.venture_id
    ORDER BY t.company_id, t.day, t.venture_id;

    -- Months are sums of their days.
    DELETE FROM orchdash.metric_totals AS t
    USING (SELECT DISTINCT company_id, date_trunc('month', day)::date AS month
           FROM pg_temp.orchdash_refresh_keys) AS k
    WHERE t.span = 'month' AND t.company_id = k.company_id AND t.day = k.month;
    INSERT INTO orchdash.metric_totals
    SELECT t.company_id, 'month', t.by_stage, k.month, t.venture_id, t.stage_id,
           sum(t.rows), sum(t.actions), sum(t.successes), sum(t.failures), sum(t.error_num),
           sum(t.error_actions), sum(t.handoff_num), sum(t.handoff_actions), sum(t.durations),
           sum(t.duration_sum), sum(t.interventions), sum(t.approvals), sum(t.rejections),
           sum(t.compute_cost), sum(t.api_calls), sum(t.quality_sum), sum(t.quality_n),
           sum(t.confidence_sum), sum(t.confidence_n), sum(t.cost_n),
           sum(t.response_sum), sum(t.response_n)
    FROM (SELECT DISTINCT company_id, date_trunc('month', day)::date AS month
          FROM pg_temp.orchdash_refresh_keys) AS k
    JOIN orchdash.metric_totals AS t
      ON t.company_id = k.company_id AND t.span = 'day'
     AND t.day >= k.month AND t.day < (k.month + interval '1 month')::date
    GROUP BY t.company_id, t.by_stage, k.month, t.venture_id, t.stage_id
    ORDER BY t.company_id, t.by_stage, k.month, t.venture_id, t.stage_id;

    DELETE FROM orchdash.duration_days AS d USING pg_temp.orchdash_refresh_keys AS k
    WHERE d.company_id = k.company_id AND d.day = k.day;
    INSERT INTO orchdash.duration_days
    SELECT b.company_id, b.stage_id, b.day, array_agg(b.bin ORDER BY b.bin),
           array_agg(b.n ORDER BY b.bin)
    FROM (
        SELECT f.company_id, f.stage_id, f.day, orchdash.duration_bin(f.stage_duration) AS bin,
               count(*)::integer AS n
        FROM orchdash.metric_facts AS f
        JOIN pg_temp.orchdash_refresh_keys AS k
          ON k.company_id = f.company_id AND k.day = f.day
         AND f.recorded_at >= (k.day::timestamp AT TIME ZONE v_zone)
         AND f.recorded_at < ((k.day + 1)::timestamp AT TIME ZONE v_zone)
        WHERE f.stage_id IS NOT NULL AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ) AS b
    GROUP BY b.company_id, b.stage_id, b.day
    ORDER BY b.company_id, b.stage_id, b.day;

    DELETE FROM orchdash.irregular_durations AS d USING pg_temp.orchdash_refresh_keys AS k
    WHERE d.company_id = k.company_id AND d.day = k.day;
    INSERT INTO orchdash.irregular_durations
    SELECT f.company_id, f.stage_id, f.day, count(*)
    FROM orchdash.metric_facts AS f
    JOIN pg_temp.orchdash_refresh_keys AS k
      ON k.company_id = f.company_id AND k.day = f.day
     AND f.recorded_at >= (k.day::timestamp AT TIME ZONE v_zone)
     AND f.recorded_at < ((k.day + 1)::timestamp AT TIME ZONE v_zone)
    WHERE f.stage_id IS NOT NULL AND f.irregular
    GROUP BY 1, 2, 3;

    FOR first_days IN
        SELECT k.company_id, min(k.day) AS day FROM pg_temp.orchdash_refresh_keys AS k GROUP BY 1
    LOOP
        FOR stage IN 1 .. 40 LOOP
            PERFORM orchdash.rebuild_duration_prefixes(first_days.company_id, stage,
                                                       first_days.day);
        END LOOP;
    END LOOP;
    TRUNCATE pg_temp.orchdash_refresh_keys;
END
$$;

-- Fold the marks that this transaction can see into the rollups. One fold at a time; a fold
-- that cannot get the lock leaves the marks for the next (queries stay exact meanwhile).
CREATE FUNCTION orchdash.rollup_fold() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    companies uuid[];
    days date[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('orchdash.rollup_fold')) THEN
        RETURN 0;
    END IF;
    -- The marks are taken before the raw rows are read: a writer whose mark is taken here
    -- committed before this statement, so the refresh below sees its rows.
    WITH taken AS (DELETE FROM orchdash.rollup_dirty RETURNING company_id, day),
         pairs AS (SELECT DISTINCT company_id, day FROM taken)
    SELECT array_agg(company_id), array_agg(day) INTO companies, days FROM pairs;
    IF companies IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM orchdash.refresh_days(companies, days);
    RETURN cardinality(companies);
END
$$;

-- Rebuild everything from the raw rows, in p_zone (NULL: keep the zone). Writers wait.
CREATE FUNCTION orchdash.rollup_rebuild(p_zone text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET work_mem = '256MB' AS $$
DECLARE
    companies uuid[];
    days date[];
BEGIN
    LOCK TABLE public.orchestration_metrics IN SHARE MODE;
    IF p_zone IS NOT NULL THEN
        PERFORM now() AT TIME ZONE p_zone;  -- an unknown zone fails here, before any change
        UPDATE orchdash.rollup_settings SET zone = p_zone;
    END IF;
    TRUNCATE orchdash.rollup_dirty, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations;
    SELECT array_agg(company_id), array_agg(day) INTO companies, days
    FROM (SELECT DISTINCT f.company_id, f.day FROM orchdash.metric_facts AS f) AS pairs;
    IF companies IS NOT NULL THEN
        PERFORM orchdash.refresh_days(companies, days);
    END IF;
    ANALYZE orchdash.metric_totals, orchdash.duration_days, orchdash.duration_day_prefix,
            orchdash.duration_month_prefix, orchdash.irregular_durations;
    RETURN coalesce(cardinality(companies), 0);
END
$$;

-- Statement-level triggers: one mark per (company, local day) the statement touched, for the
-- rows before (update, delete) and after (insert, update) it.
CREATE FUNCTION orchdash.mark_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO orchdash.rollup_dirty (company_id, day)
        SELECT DISTINCT n.company_id,
               (n.recorded_at AT TIME ZONE (SELECT s.zone FROM orchdash.rollup_settings AS s))::date
        FROM inserted AS n
        WHERE n.company_id IS NOT NULL AND n.recorded_at IS NOT NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO orchdash.rollup_dirty (company_id, day)
        SELECT DISTINCT o.company_id,
               (o.recorded_at AT TIME ZONE (SELECT s.zone FROM orchdash.rollup_settings AS s))::date
        FROM deleted AS o
        WHERE o.company_id IS NOT NULL AND o.recorded_at IS NOT NULL;
    END IF;
    PERFORM orchdash.fold_if_due();
    RETURN NULL;
END
$$;
CREATE FUNCTION orchdash.clear_on_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    TRUNCATE orchdash.rollup_dirty, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations;
    RETURN NULL;
END
$$;

-- A writer folds once the oldest mark is fold_after old; a failing fold never fails the write
-- (its marks stay, and queries correct for them).
CREATE FUNCTION orchdash.fold_if_due() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF EXISTS (
        SELECT FROM orchdash.rollup_dirty AS d, orchdash.rollup_settings AS s
        WHERE d.marked_at < clock_timestamp() - s.fold_after
    ) THEN
        BEGIN
            PERFORM orchdash.rollup_fold();
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'orchdash: rollup fold skipped: %', SQLERRM;
        END;
    END IF;
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER orchdash_rollup_insert AFTER INSERT ON public.orchestration_metrics
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.mark_changed();
CREATE TRIGGER orchdash_rollup_update AFTER UPDATE ON public.orchestration_metrics
    REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.mark_changed();
CREATE TRIGGER orchdash_rollup_delete AFTER DELETE ON public.orchestration_metrics
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION orchdash.mark_changed();
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
    op.execute(FUNCTIONS)
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
        "GRANT SELECT ON orchdash.rollup_settings, orchdash.metric_facts, "
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
