"""The rollups: a page costs what it shows, not the rows behind it; exact, and read under RLS.

Everything lives in the schema ``orchdash`` (revision f01), read by ``orchdash_reader`` through the
same company policy as the metrics, in the index-friendly shape
``company_id = ANY (ARRAY(SELECT ...))`` (an InitPlan, usable as an index condition). The design,
with a diagram, is in docs/performance.md; in short:

- ``rollup_settings``: the one time zone whose local days the rollups use (ORCHDASH_TIMEZONE when
  migrated; ``orchdash.rollup_rebuild(zone, low_threshold)`` changes it) and the low-confidence
  threshold (ORCHDASH_LOW_CONFIDENCE, default 60). Queries in another zone, or at another
  threshold, read the raw rows instead.
- ``metric_totals``: the additive sums behind every number per company, venture, stage (or all
  stages) and local day, and again per local month; ``metric_facts`` and ``log_facts`` define them
  per row. A period is whole months plus edge days.
- ``duration_days``, ``duration_day_prefix``, ``duration_month_prefix``, ``irregular_durations``:
  histograms of durations per company, stage and day (``duration_bin``: 300 bins per e-fold of
  1 + |seconds|) and their cumulative arrays, so that an exact percentile reads the few raw
  durations of one bin through the index ``orchdash_metrics_durations``.
- ``venture_duration_days``, ``venture_day_prefix``: the same per venture and stage in coarse bins
  (``coarse_bin``), for Venture health's cell medians (``middle_bin``, read through
  ``orchdash_metrics_venture_durations``).
- ``agent_totals`` / ``agent_settings``: agent activity per company, local day and
  ``agents_involved`` exactly as stored, over all ventures and stages and per venture and stage.
- ``rollup_log``: each inserted, deleted or updated metric row's counted columns with a sign,
  appended by statement-level triggers; queries add it to the rollups, so answers are exact at
  once. ``rollup_fold()`` and ``agent_merge()`` move the changes into the rollups off the writers'
  path (queries/folding.py, every few seconds under ``orchdash run``); writers fold themselves
  only as a safety net (``fold_after``, ``fold_rows``).

The function and trigger definitions below are the one place they are written (as
``pg_get_functiondef`` and ``pg_get_triggerdef`` print them: tests/test_migrations.py compares).
On a database that already has rows, the rebuilds at the end fill the rollups from them.

Revision ID: f04
Revises: f03
Create Date: 2026-12-02
"""

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "f04"
down_revision = "f03"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE orchdash.agent_settings (
    singleton boolean DEFAULT true NOT NULL,
    zone text NOT NULL,
    CONSTRAINT agent_settings_singleton_check CHECK (singleton)
);
CREATE TABLE orchdash.agent_totals (
    company_id uuid NOT NULL,
    day date NOT NULL,
    fine boolean NOT NULL,
    venture_id uuid,
    stage_id integer,
    agents text[] NOT NULL,
    rows bigint NOT NULL,
    actions bigint NOT NULL,
    utilization_sum bigint NOT NULL,
    utilization_n bigint NOT NULL,
    response_sum numeric NOT NULL,
    response_n bigint NOT NULL,
    merged boolean NOT NULL
);
CREATE TABLE orchdash.duration_day_prefix (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    base integer NOT NULL,
    counts integer[] NOT NULL
);
CREATE TABLE orchdash.duration_days (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    bins integer[] NOT NULL,
    counts integer[] NOT NULL
);
CREATE TABLE orchdash.duration_month_prefix (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    month date NOT NULL,
    base integer NOT NULL,
    counts integer[] NOT NULL
);
CREATE TABLE orchdash.irregular_durations (
    company_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    n bigint NOT NULL
);
CREATE TABLE orchdash.rollup_log (
    company_id uuid NOT NULL,
    venture_id uuid,
    stage_id integer,
    recorded_at timestamp with time zone NOT NULL,
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
    sign smallint NOT NULL,
    logged_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT rollup_log_sign_check CHECK ((sign = ANY (ARRAY['-1'::integer, 1])))
);
CREATE TABLE orchdash.rollup_settings (
    singleton boolean DEFAULT true NOT NULL,
    zone text NOT NULL,
    fold_after interval DEFAULT '00:05:00'::interval NOT NULL,
    fold_rows integer DEFAULT 100000 NOT NULL,
    low_threshold numeric DEFAULT 60 NOT NULL,
    CONSTRAINT rollup_settings_low_threshold_check CHECK (((low_threshold >= (0)::numeric) AND (low_threshold <= (100)::numeric))),
    CONSTRAINT rollup_settings_singleton_check CHECK (singleton)
);
CREATE TABLE orchdash.metric_totals (
    company_id uuid NOT NULL,
    span text NOT NULL,
    by_stage boolean NOT NULL,
    day date NOT NULL,
    venture_id uuid,
    stage_id integer,
    rows bigint NOT NULL,
    actions bigint NOT NULL,
    successes bigint NOT NULL,
    failures bigint NOT NULL,
    error_num bigint NOT NULL,
    error_actions bigint NOT NULL,
    handoff_num bigint NOT NULL,
    handoff_actions bigint NOT NULL,
    durations bigint NOT NULL,
    duration_sum numeric NOT NULL,
    interventions bigint NOT NULL,
    approvals bigint NOT NULL,
    rejections bigint NOT NULL,
    compute_cost bigint NOT NULL,
    api_calls bigint NOT NULL,
    quality_sum bigint NOT NULL,
    quality_n bigint NOT NULL,
    confidence_sum bigint NOT NULL,
    confidence_n bigint NOT NULL,
    cost_n bigint NOT NULL,
    response_sum numeric NOT NULL,
    response_n bigint NOT NULL,
    low_rows bigint NOT NULL,
    low_actions bigint NOT NULL,
    low_durations bigint NOT NULL,
    low_error_actions bigint NOT NULL,
    low_handoff_actions bigint NOT NULL,
    CONSTRAINT metric_totals_span_check CHECK ((span = ANY (ARRAY['day'::text, 'month'::text])))
);
CREATE TABLE orchdash.venture_day_prefix (
    company_id uuid NOT NULL,
    venture_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    base integer NOT NULL,
    counts integer[] NOT NULL
);
CREATE TABLE orchdash.venture_duration_days (
    company_id uuid NOT NULL,
    venture_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    bins integer[] NOT NULL,
    counts integer[] NOT NULL
);
ALTER TABLE ONLY orchdash.agent_settings
    ADD CONSTRAINT agent_settings_pkey PRIMARY KEY (singleton);
ALTER TABLE ONLY orchdash.duration_day_prefix
    ADD CONSTRAINT duration_day_prefix_pkey PRIMARY KEY (company_id, stage_id, day);
ALTER TABLE ONLY orchdash.duration_days
    ADD CONSTRAINT duration_days_pkey PRIMARY KEY (company_id, stage_id, day);
ALTER TABLE ONLY orchdash.duration_month_prefix
    ADD CONSTRAINT duration_month_prefix_pkey PRIMARY KEY (company_id, stage_id, month);
ALTER TABLE ONLY orchdash.irregular_durations
    ADD CONSTRAINT irregular_durations_pkey PRIMARY KEY (company_id, stage_id, day);
ALTER TABLE ONLY orchdash.rollup_settings
    ADD CONSTRAINT rollup_settings_pkey PRIMARY KEY (singleton);
ALTER TABLE ONLY orchdash.venture_day_prefix
    ADD CONSTRAINT venture_day_prefix_pkey PRIMARY KEY (company_id, venture_id, stage_id, day);
ALTER TABLE ONLY orchdash.venture_duration_days
    ADD CONSTRAINT venture_duration_days_pkey PRIMARY KEY (company_id, venture_id, stage_id, day);
CREATE INDEX agent_totals_days ON orchdash.agent_totals USING btree (company_id, fine, day);
CREATE INDEX agent_totals_stages ON orchdash.agent_totals USING btree (company_id, fine, stage_id, day);
CREATE INDEX agent_totals_unmerged ON orchdash.agent_totals USING btree (company_id, day) WHERE (NOT merged);
CREATE INDEX agent_totals_ventures ON orchdash.agent_totals USING btree (company_id, fine, venture_id, day);
CREATE UNIQUE INDEX metric_totals_key ON orchdash.metric_totals USING btree (company_id, by_stage, span, day, venture_id, stage_id) NULLS NOT DISTINCT;
CREATE INDEX rollup_log_logged_at ON orchdash.rollup_log USING btree (logged_at);
"""

FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION orchdash.bin_floor(f integer)
 RETURNS interval
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (f > 8700) THEN '178000000 years'::interval WHEN (f < '-8700'::integer) THEN '-178000000 years'::interval ELSE make_interval(secs => (round(((sign((f)::double precision) * ((exp(((abs(f))::numeric / 300.0)) - (1)::numeric))::double precision))::numeric, 6))::double precision) END
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.log_bin(seconds double precision)
 RETURNS double precision
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (seconds IS NULL) THEN NULL::double precision WHEN (seconds > ('1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000'::numeric)::double precision) THEN (8700.5)::double precision WHEN (seconds < ('-1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000'::numeric)::double precision) THEN ('-8700.5'::numeric)::double precision ELSE GREATEST(('-8700.5'::numeric)::double precision, LEAST((8700.5)::double precision, ((sign(seconds) * (300)::double precision) * ln(((1)::double precision + abs(seconds)))))) END
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.duration_bin(d interval)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (abs((orchdash.log_bin(date_part('epoch'::text, d)) - round(orchdash.log_bin(date_part('epoch'::text, d))))) > (0.0002)::double precision) THEN (floor(orchdash.log_bin(date_part('epoch'::text, d))))::integer ELSE (((floor(orchdash.log_bin(date_part('epoch'::text, d))))::integer - ((d < orchdash.bin_floor((floor(orchdash.log_bin(date_part('epoch'::text, d))))::integer)))::integer) + ((d >= orchdash.bin_floor(((floor(orchdash.log_bin(date_part('epoch'::text, d))))::integer + 1))))::integer) END
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.coarse_bin(fine integer)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN ((fine - (((fine % 10) + 10) % 10)) / 10)
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.dense_widened(p_base integer, p_counts integer[], b integer, OUT base integer, OUT counts integer[])
 RETURNS record
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog'
AS $function$
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
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.rebuild_duration_prefixes(p_company uuid, p_stage integer, p_from date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog'
AS $function$
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
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.rollup_fold()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
 SET work_mem TO '64MB'
AS $function$
DECLARE
    r record;
    done bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('orchdash.rollup_fold')) THEN
        RETURN 0;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS orchdash_deltas ON COMMIT DROP AS
    SELECT company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions FROM orchdash.metric_totals WITH NO DATA;
    CREATE TEMP TABLE IF NOT EXISTS orchdash_bins (company_id uuid, stage_id integer, day date,
                                                   bin integer, n bigint) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS orchdash_venture_bins (
        company_id uuid, venture_id uuid, stage_id integer, day date, bin integer, n bigint
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.orchdash_deltas, pg_temp.orchdash_bins, pg_temp.orchdash_venture_bins;
    -- One pass over the log rows taken: per company, day, venture and stage the deltas of the
    -- sums; per company, stage and day those of the duration bins; those of the long durations.
    WITH taken AS (DELETE FROM orchdash.rollup_log RETURNING *),
    facts AS NOT MATERIALIZED (SELECT m.company_id,
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
    (m.agent_response_time IS NOT NULL)::integer::bigint AS response_n,
    (coalesce(m.data_quality_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s) OR m.confidence_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s), false))::integer::bigint AS low_rows,
    CASE WHEN coalesce(m.data_quality_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s) OR m.confidence_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s), false) THEN coalesce(m.action_count, 0) ELSE 0 END::bigint AS low_actions,
    (m.stage_duration IS NOT NULL AND coalesce(m.data_quality_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s) OR m.confidence_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s), false))::integer::bigint AS low_durations,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0 AND coalesce(m.data_quality_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s) OR m.confidence_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s), false)
        THEN m.action_count ELSE 0 END::bigint AS low_error_actions,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0 AND coalesce(m.data_quality_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s) OR m.confidence_score < (SELECT s.low_threshold FROM orchdash.rollup_settings AS s), false)
        THEN m.action_count ELSE 0 END::bigint AS low_handoff_actions, m.sign FROM taken AS m),
    sums AS (
        INSERT INTO pg_temp.orchdash_deltas (company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions)
        SELECT f.company_id, 'day', true, f.day, f.venture_id, f.stage_id, sum(f.sign),
               sum(f.sign * f.actions), sum(f.sign * f.successes), sum(f.sign * f.failures), sum(f.sign * f.error_num), sum(f.sign * f.error_actions), sum(f.sign * f.handoff_num), sum(f.sign * f.handoff_actions), sum(f.sign * f.durations), sum(f.sign * f.duration_sum), sum(f.sign * f.interventions), sum(f.sign * f.approvals), sum(f.sign * f.rejections), sum(f.sign * f.compute_cost), sum(f.sign * f.api_calls), sum(f.sign * f.quality_sum), sum(f.sign * f.quality_n), sum(f.sign * f.confidence_sum), sum(f.sign * f.confidence_n), sum(f.sign * f.cost_n), sum(f.sign * f.response_sum), sum(f.sign * f.response_n), sum(f.sign * f.low_rows), sum(f.sign * f.low_actions), sum(f.sign * f.low_durations), sum(f.sign * f.low_error_actions), sum(f.sign * f.low_handoff_actions)
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
    venture_bins AS (
        INSERT INTO pg_temp.orchdash_venture_bins
        SELECT f.company_id, f.venture_id, f.stage_id, f.day,
               orchdash.coarse_bin(orchdash.duration_bin(f.stage_duration)), sum(f.sign)
        FROM facts AS f
        WHERE f.venture_id IS NOT NULL AND f.stage_id IS NOT NULL
          AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
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

    INSERT INTO orchdash.metric_totals AS t (company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions)
    SELECT d.company_id, g.span, g.by_stage,
           CASE WHEN g.span = 'day' THEN d.day ELSE date_trunc('month', d.day)::date END,
           d.venture_id, CASE WHEN g.by_stage THEN d.stage_id END,
           sum(d.rows), sum(d.actions), sum(d.successes), sum(d.failures), sum(d.error_num), sum(d.error_actions), sum(d.handoff_num), sum(d.handoff_actions), sum(d.durations), sum(d.duration_sum), sum(d.interventions), sum(d.approvals), sum(d.rejections), sum(d.compute_cost), sum(d.api_calls), sum(d.quality_sum), sum(d.quality_n), sum(d.confidence_sum), sum(d.confidence_n), sum(d.cost_n), sum(d.response_sum), sum(d.response_n), sum(d.low_rows), sum(d.low_actions), sum(d.low_durations), sum(d.low_error_actions), sum(d.low_handoff_actions)
    FROM pg_temp.orchdash_deltas AS d
    CROSS JOIN (VALUES ('day', true), ('day', false), ('month', true), ('month', false))
        AS g(span, by_stage)
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (company_id, by_stage, span, day, venture_id, stage_id) DO UPDATE SET
        rows = t.rows + excluded.rows,
        actions = t.actions + excluded.actions, successes = t.successes + excluded.successes, failures = t.failures + excluded.failures, error_num = t.error_num + excluded.error_num, error_actions = t.error_actions + excluded.error_actions, handoff_num = t.handoff_num + excluded.handoff_num, handoff_actions = t.handoff_actions + excluded.handoff_actions, durations = t.durations + excluded.durations, duration_sum = t.duration_sum + excluded.duration_sum, interventions = t.interventions + excluded.interventions, approvals = t.approvals + excluded.approvals, rejections = t.rejections + excluded.rejections, compute_cost = t.compute_cost + excluded.compute_cost, api_calls = t.api_calls + excluded.api_calls, quality_sum = t.quality_sum + excluded.quality_sum, quality_n = t.quality_n + excluded.quality_n, confidence_sum = t.confidence_sum + excluded.confidence_sum, confidence_n = t.confidence_n + excluded.confidence_n, cost_n = t.cost_n + excluded.cost_n, response_sum = t.response_sum + excluded.response_sum, response_n = t.response_n + excluded.response_n, low_rows = t.low_rows + excluded.low_rows, low_actions = t.low_actions + excluded.low_actions, low_durations = t.low_durations + excluded.low_durations, low_error_actions = t.low_error_actions + excluded.low_error_actions, low_handoff_actions = t.low_handoff_actions + excluded.low_handoff_actions;
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
    -- The same for the venture histograms.
    INSERT INTO pg_temp.orchdash_venture_bins
    SELECT d.company_id, d.venture_id, d.stage_id, d.day, e.bin, e.n
    FROM orchdash.venture_duration_days AS d
    JOIN (SELECT DISTINCT company_id, venture_id, stage_id, day
          FROM pg_temp.orchdash_venture_bins) AS k
      ON k.company_id = d.company_id AND k.venture_id = d.venture_id
     AND k.stage_id = d.stage_id AND k.day = d.day
    CROSS JOIN LATERAL unnest(d.bins, d.counts) AS e(bin, n);
    DELETE FROM orchdash.venture_duration_days AS d
    USING (SELECT DISTINCT company_id, venture_id, stage_id, day
           FROM pg_temp.orchdash_venture_bins) AS k
    WHERE k.company_id = d.company_id AND k.venture_id = d.venture_id
      AND k.stage_id = d.stage_id AND k.day = d.day;
    INSERT INTO orchdash.venture_duration_days
    SELECT b.company_id, b.venture_id, b.stage_id, b.day, array_agg(b.bin ORDER BY b.bin),
           array_agg(b.n::integer ORDER BY b.bin)
    FROM (
        SELECT company_id, venture_id, stage_id, day, bin, sum(n) AS n
        FROM pg_temp.orchdash_venture_bins
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0
    ) AS b
    GROUP BY b.company_id, b.venture_id, b.stage_id, b.day;
    FOR r IN
        SELECT b.company_id, b.venture_id, b.stage_id, min(b.day) AS day
        FROM pg_temp.orchdash_venture_bins AS b
        GROUP BY 1, 2, 3
    LOOP
        PERFORM orchdash.rebuild_venture_prefixes(r.company_id, r.venture_id, r.stage_id, r.day);
    END LOOP;
    RETURN done;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.log_changes()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
AS $function$
DECLARE
    changed bigint := 0;
    more bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO orchdash.rollup_log (company_id, venture_id, stage_id, recorded_at, stage_duration, handoff_efficiency, error_rate, action_count, success_count, failure_count, agent_response_time, chairman_interventions, chairman_approvals, chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score, sign)
        SELECT company_id, venture_id, stage_id, recorded_at, stage_duration, handoff_efficiency, error_rate, action_count, success_count, failure_count, agent_response_time, chairman_interventions, chairman_approvals, chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score, 1 FROM inserted AS m WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL;
        GET DIAGNOSTICS changed = ROW_COUNT;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO orchdash.rollup_log (company_id, venture_id, stage_id, recorded_at, stage_duration, handoff_efficiency, error_rate, action_count, success_count, failure_count, agent_response_time, chairman_interventions, chairman_approvals, chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score, sign)
        SELECT company_id, venture_id, stage_id, recorded_at, stage_duration, handoff_efficiency, error_rate, action_count, success_count, failure_count, agent_response_time, chairman_interventions, chairman_approvals, chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score, -1 FROM deleted AS m WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL;
        GET DIAGNOSTICS more = ROW_COUNT;
        changed := changed + more;
    END IF;
    PERFORM orchdash.fold_if_due(changed);
    RETURN NULL;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.clear_on_truncate()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
AS $function$
BEGIN
    TRUNCATE orchdash.rollup_log, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations,
             orchdash.venture_duration_days, orchdash.venture_day_prefix;
    RETURN NULL;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.fold_if_due(p_rows bigint)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
 SET enable_seqscan TO 'off'
AS $function$
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
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.rollup_rebuild(p_zone text DEFAULT NULL::text, p_low_threshold numeric DEFAULT NULL::numeric)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
 SET work_mem TO '256MB'
AS $function$
DECLARE
    r record;
    done bigint;
BEGIN
    LOCK TABLE public.orchestration_metrics IN SHARE MODE;
    IF p_zone IS NOT NULL THEN
        PERFORM now() AT TIME ZONE p_zone;  -- an unknown zone fails here, before any change
        UPDATE orchdash.rollup_settings SET zone = p_zone;
    END IF;
    IF p_low_threshold IS NOT NULL THEN
        UPDATE orchdash.rollup_settings SET low_threshold = p_low_threshold;
    END IF;
    TRUNCATE orchdash.rollup_log, orchdash.metric_totals, orchdash.duration_days,
             orchdash.duration_day_prefix, orchdash.duration_month_prefix,
             orchdash.irregular_durations,
             orchdash.venture_duration_days, orchdash.venture_day_prefix;
    INSERT INTO orchdash.metric_totals (company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions)
    SELECT f.company_id, 'day', true, f.day, f.venture_id, f.stage_id, count(*), sum(f.actions), sum(f.successes), sum(f.failures), sum(f.error_num), sum(f.error_actions), sum(f.handoff_num), sum(f.handoff_actions), sum(f.durations), sum(f.duration_sum), sum(f.interventions), sum(f.approvals), sum(f.rejections), sum(f.compute_cost), sum(f.api_calls), sum(f.quality_sum), sum(f.quality_n), sum(f.confidence_sum), sum(f.confidence_n), sum(f.cost_n), sum(f.response_sum), sum(f.response_n), sum(f.low_rows), sum(f.low_actions), sum(f.low_durations), sum(f.low_error_actions), sum(f.low_handoff_actions)
    FROM orchdash.metric_facts AS f
    GROUP BY f.company_id, f.day, f.venture_id, f.stage_id
    ORDER BY f.company_id, f.day, f.venture_id, f.stage_id;
    GET DIAGNOSTICS done = ROW_COUNT;
    INSERT INTO orchdash.metric_totals (company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions)
    SELECT t.company_id, 'day', false, t.day, t.venture_id, NULL, sum(t.rows), sum(t.actions), sum(t.successes), sum(t.failures), sum(t.error_num), sum(t.error_actions), sum(t.handoff_num), sum(t.handoff_actions), sum(t.durations), sum(t.duration_sum), sum(t.interventions), sum(t.approvals), sum(t.rejections), sum(t.compute_cost), sum(t.api_calls), sum(t.quality_sum), sum(t.quality_n), sum(t.confidence_sum), sum(t.confidence_n), sum(t.cost_n), sum(t.response_sum), sum(t.response_n), sum(t.low_rows), sum(t.low_actions), sum(t.low_durations), sum(t.low_error_actions), sum(t.low_handoff_actions)
    FROM orchdash.metric_totals AS t
    WHERE t.span = 'day' AND t.by_stage
    GROUP BY t.company_id, t.day, t.venture_id
    ORDER BY t.company_id, t.day, t.venture_id;
    -- Months are sums of their days.
    INSERT INTO orchdash.metric_totals (company_id, span, by_stage, day, venture_id, stage_id, rows, actions, successes, failures, error_num, error_actions, handoff_num, handoff_actions, durations, duration_sum, interventions, approvals, rejections, compute_cost, api_calls, quality_sum, quality_n, confidence_sum, confidence_n, cost_n, response_sum, response_n, low_rows, low_actions, low_durations, low_error_actions, low_handoff_actions)
    SELECT t.company_id, 'month', t.by_stage, date_trunc('month', t.day)::date, t.venture_id,
           t.stage_id, sum(t.rows), sum(t.actions), sum(t.successes), sum(t.failures), sum(t.error_num), sum(t.error_actions), sum(t.handoff_num), sum(t.handoff_actions), sum(t.durations), sum(t.duration_sum), sum(t.interventions), sum(t.approvals), sum(t.rejections), sum(t.compute_cost), sum(t.api_calls), sum(t.quality_sum), sum(t.quality_n), sum(t.confidence_sum), sum(t.confidence_n), sum(t.cost_n), sum(t.response_sum), sum(t.response_n), sum(t.low_rows), sum(t.low_actions), sum(t.low_durations), sum(t.low_error_actions), sum(t.low_handoff_actions)
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
    INSERT INTO orchdash.venture_duration_days
    SELECT b.company_id, b.venture_id, b.stage_id, b.day, array_agg(b.bin ORDER BY b.bin),
           array_agg(b.n ORDER BY b.bin)
    FROM (
        SELECT f.company_id, f.venture_id, f.stage_id, f.day,
               orchdash.coarse_bin(orchdash.duration_bin(f.stage_duration)) AS bin,
               count(*)::integer AS n
        FROM orchdash.metric_facts AS f
        WHERE f.venture_id IS NOT NULL AND f.stage_id IS NOT NULL
          AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    ) AS b
    GROUP BY b.company_id, b.venture_id, b.stage_id, b.day
    ORDER BY b.company_id, b.venture_id, b.stage_id, b.day;
    FOR r IN
        SELECT DISTINCT d.company_id, d.venture_id, d.stage_id
        FROM orchdash.venture_duration_days AS d
    LOOP
        PERFORM orchdash.rebuild_venture_prefixes(r.company_id, r.venture_id, r.stage_id,
                                                  '-infinity');
    END LOOP;
    FOR r IN SELECT DISTINCT d.company_id, d.stage_id FROM orchdash.duration_days AS d LOOP
        PERFORM orchdash.rebuild_duration_prefixes(r.company_id, r.stage_id, '-infinity');
    END LOOP;
    ANALYZE orchdash.metric_totals, orchdash.duration_days, orchdash.duration_day_prefix,
            orchdash.duration_month_prefix, orchdash.irregular_durations,
            orchdash.venture_duration_days, orchdash.venture_day_prefix;
    RETURN done;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.agent_changes()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
AS $function$
DECLARE
    v_zone text := (SELECT s.zone FROM orchdash.agent_settings AS s);
BEGIN
    -- A transition table exists only for its operations, and PL/pgSQL plans a statement when
    -- it first runs it: each branch names only its own.
    IF TG_OP = 'INSERT' THEN

        INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
        SELECT m.company_id,
               CASE WHEN GROUPING((m.recorded_at AT TIME ZONE v_zone)::date) = 1 THEN CAST('-infinity' AS date) ELSE (m.recorded_at AT TIME ZONE v_zone)::date END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               count(*), coalesce(sum(m.action_count), 0),
               coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               count(m.agent_utilization),
               coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               count(m.agent_response_time), false
        FROM inserted AS m
        WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.venture_id, m.stage_id, m.agents_involved)
        );


    ELSIF TG_OP = 'DELETE' THEN

        INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
        SELECT m.company_id,
               CASE WHEN GROUPING((m.recorded_at AT TIME ZONE v_zone)::date) = 1 THEN CAST('-infinity' AS date) ELSE (m.recorded_at AT TIME ZONE v_zone)::date END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               -count(*), -coalesce(sum(m.action_count), 0),
               -coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               -count(m.agent_utilization),
               -coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               -count(m.agent_response_time), false
        FROM deleted AS m
        WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.venture_id, m.stage_id, m.agents_involved)
        );


    ELSE

        INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
        SELECT m.company_id,
               CASE WHEN GROUPING((m.recorded_at AT TIME ZONE v_zone)::date) = 1 THEN CAST('-infinity' AS date) ELSE (m.recorded_at AT TIME ZONE v_zone)::date END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               count(*), coalesce(sum(m.action_count), 0),
               coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               count(m.agent_utilization),
               coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               count(m.agent_response_time), false
        FROM inserted AS m
        WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.venture_id, m.stage_id, m.agents_involved)
        );

        INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
        SELECT m.company_id,
               CASE WHEN GROUPING((m.recorded_at AT TIME ZONE v_zone)::date) = 1 THEN CAST('-infinity' AS date) ELSE (m.recorded_at AT TIME ZONE v_zone)::date END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               -count(*), -coalesce(sum(m.action_count), 0),
               -coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               -count(m.agent_utilization),
               -coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               -count(m.agent_response_time), false
        FROM deleted AS m
        WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.venture_id, m.stage_id, m.agents_involved)
        );


    END IF;
    RETURN NULL;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.agent_clear()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
AS $function$
BEGIN
    TRUNCATE orchdash.agent_totals;
    RETURN NULL;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.agent_rebuild(p_zone text DEFAULT NULL::text)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog'
 SET work_mem TO '256MB'
AS $function$
DECLARE
    v_zone text;
    done bigint;
BEGIN
    LOCK TABLE public.orchestration_metrics IN SHARE MODE;
    IF p_zone IS NOT NULL THEN
        PERFORM now() AT TIME ZONE p_zone;  -- an unknown zone fails here, before any change
        UPDATE orchdash.agent_settings SET zone = p_zone;
    END IF;
    v_zone := (SELECT s.zone FROM orchdash.agent_settings AS s);
    TRUNCATE orchdash.agent_totals;

        INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
        SELECT m.company_id,
               CASE WHEN GROUPING((m.recorded_at AT TIME ZONE v_zone)::date) = 1 THEN CAST('-infinity' AS date) ELSE (m.recorded_at AT TIME ZONE v_zone)::date END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               count(*), coalesce(sum(m.action_count), 0),
               coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               count(m.agent_utilization),
               coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               count(m.agent_response_time), true
        FROM public.orchestration_metrics AS m
        WHERE m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.agents_involved),
            (m.company_id, (m.recorded_at AT TIME ZONE v_zone)::date, m.venture_id, m.stage_id, m.agents_involved)
        );
    GET DIAGNOSTICS done = ROW_COUNT;
    ANALYZE orchdash.agent_totals;
    RETURN done;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.agent_merge()
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog'
AS $function$
DECLARE
    v_merged bigint := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('orchdash.agent_compact')) THEN
        RETURN 0;  -- another merge is under way
    END IF;
    WITH keys AS (
        SELECT DISTINCT t.company_id, t.day, t.fine, t.venture_id, t.stage_id, t.agents
        FROM orchdash.agent_totals AS t
        WHERE NOT t.merged
    ),
    gone AS (
        DELETE FROM orchdash.agent_totals AS t USING keys AS k
        WHERE t.company_id = k.company_id AND t.day = k.day AND t.fine = k.fine
          AND t.venture_id IS NOT DISTINCT FROM k.venture_id
          AND t.stage_id IS NOT DISTINCT FROM k.stage_id AND t.agents = k.agents
        RETURNING t.*
    )
    INSERT INTO orchdash.agent_totals (company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum, utilization_n, response_sum, response_n, merged)
    SELECT company_id, day, fine, venture_id, stage_id, agents, sum(g.rows), sum(g.actions), sum(g.utilization_sum),
           sum(g.utilization_n), sum(g.response_sum), sum(g.response_n), true
    FROM gone AS g
    GROUP BY company_id, day, fine, venture_id, stage_id, agents
    HAVING sum(g.rows) <> 0;
    GET DIAGNOSTICS v_merged = ROW_COUNT;
    RETURN v_merged;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.rebuild_venture_prefixes(p_company uuid, p_venture uuid, p_stage integer, p_from date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog'
AS $function$
DECLARE
    c_base integer;
    c_counts integer[];
    r record;
    i integer;
    b integer;
BEGIN
    SELECT p.base, p.counts INTO c_base, c_counts FROM orchdash.venture_day_prefix AS p
    WHERE p.company_id = p_company AND p.venture_id = p_venture AND p.stage_id = p_stage
      AND p.day < p_from
    ORDER BY p.day DESC LIMIT 1;
    DELETE FROM orchdash.venture_day_prefix AS p
    WHERE p.company_id = p_company AND p.venture_id = p_venture AND p.stage_id = p_stage
      AND p.day >= p_from;
    FOR r IN
        SELECT d.day, d.bins, d.counts FROM orchdash.venture_duration_days AS d
        WHERE d.company_id = p_company AND d.venture_id = p_venture AND d.stage_id = p_stage
          AND d.day >= p_from
        ORDER BY d.day
    LOOP
        FOR i IN 1 .. cardinality(r.bins) LOOP
            b := r.bins[i];
            IF c_base IS NULL OR b < c_base OR b - c_base >= cardinality(c_counts) THEN
                SELECT g.base, g.counts INTO c_base, c_counts
                FROM orchdash.dense_widened(c_base, c_counts, b) AS g;
            END IF;
            c_counts[b - c_base + 1] := c_counts[b - c_base + 1] + r.counts[i];
        END LOOP;
        INSERT INTO orchdash.venture_day_prefix
        VALUES (p_company, p_venture, p_stage, r.day, c_base, c_counts);
    END LOOP;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.middle_bin(hi_base integer, hi integer[], lo_base integer, lo integer[], log_bins integer[], log_counts bigint[], p_rank bigint, OUT bin integer, OUT below bigint)
 RETURNS record
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
AS $function$
-- The coarse bin that holds the duration at p_rank (from 0) of a period, and how many of the
-- period's durations lie in the bins below it. The period's histogram: hi (cumulative up to its
-- last day) minus lo (up to the day before its first; NULL if none) plus the log's signed
-- counts (bins ascending and distinct; NULL if none). NULL when the histogram holds no p_rank.
DECLARE
    n bigint;
    i integer;
    j integer := 1;
    lo_off integer := coalesce(lo_base - hi_base, 0);
    lo_n integer := coalesce(cardinality(lo), 0);
    logged integer := coalesce(cardinality(log_bins), 0);
BEGIN
    below := 0;
    IF logged = 0 AND hi IS NOT NULL AND lo_off >= 0 THEN
        -- The common case: lo's bins lie within hi's (the arrays only widen over the days).
        FOR i IN 1 .. cardinality(hi) LOOP
            below := below + hi[i]
                - CASE WHEN i > lo_off AND i <= lo_off + lo_n THEN lo[i - lo_off] ELSE 0 END;
            IF below > p_rank THEN
                bin := hi_base + i - 1;
                below := below - hi[i]
                    + CASE WHEN i > lo_off AND i <= lo_off + lo_n THEN lo[i - lo_off] ELSE 0 END;
                RETURN;
            END IF;
        END LOOP;
        below := NULL;
        RETURN;
    END IF;
    IF least(hi_base, lo_base, log_bins[1]) IS NULL THEN
        below := NULL;
        RETURN;
    END IF;
    FOR i IN least(hi_base, lo_base, log_bins[1])
          .. greatest(hi_base + cardinality(hi) - 1, lo_base + lo_n - 1, log_bins[logged])
    LOOP
        n := 0;
        IF i - hi_base BETWEEN 0 AND cardinality(hi) - 1 THEN
            n := hi[i - hi_base + 1];
        END IF;
        IF i - lo_base BETWEEN 0 AND lo_n - 1 THEN
            n := n - lo[i - lo_base + 1];
        END IF;
        WHILE j <= logged AND log_bins[j] = i LOOP
            n := n + log_counts[j];
            j := j + 1;
        END LOOP;
        IF below + n > p_rank THEN
            bin := i;
            RETURN;
        END IF;
        below := below + n;
    END LOOP;
    below := NULL;
END
$function$
""",
)

VIEWS = r"""
CREATE VIEW orchdash.metric_facts WITH (security_invoker = true) AS
 SELECT company_id,
    venture_id,
    stage_id,
    recorded_at,
    (recorded_at AT TIME ZONE (( SELECT s.zone
           FROM orchdash.rollup_settings s)))::date AS day,
    stage_duration,
    EXTRACT(year FROM stage_duration) <> 0::numeric AS irregular,
    COALESCE(action_count, 0)::bigint AS actions,
    COALESCE(success_count, 0)::bigint AS successes,
    COALESCE(failure_count, 0)::bigint AS failures,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 THEN (error_rate * 10000::numeric)::bigint * action_count
            ELSE 0::bigint
        END AS error_num,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 THEN action_count
            ELSE 0
        END::bigint AS error_actions,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 THEN (handoff_efficiency * 100::numeric)::bigint * action_count
            ELSE 0::bigint
        END AS handoff_num,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 THEN action_count
            ELSE 0
        END::bigint AS handoff_actions,
    (stage_duration IS NOT NULL)::integer::bigint AS durations,
    COALESCE(EXTRACT(epoch FROM stage_duration), 0::numeric) AS duration_sum,
    COALESCE(chairman_interventions, 0)::bigint AS interventions,
    COALESCE(chairman_approvals, 0)::bigint AS approvals,
    COALESCE(chairman_rejections, 0)::bigint AS rejections,
    COALESCE((compute_cost * 100::numeric)::bigint, 0::bigint) AS compute_cost,
    COALESCE(api_calls_made, 0)::bigint AS api_calls,
    COALESCE((data_quality_score * 100::numeric)::bigint, 0::bigint) AS quality_sum,
    (data_quality_score IS NOT NULL)::integer::bigint AS quality_n,
    COALESCE((confidence_score * 100::numeric)::bigint, 0::bigint) AS confidence_sum,
    (confidence_score IS NOT NULL)::integer::bigint AS confidence_n,
    (compute_cost IS NOT NULL)::integer::bigint AS cost_n,
    COALESCE(EXTRACT(epoch FROM agent_response_time), 0::numeric) AS response_sum,
    (agent_response_time IS NOT NULL)::integer::bigint AS response_n,
    EXTRACT(epoch FROM stage_duration)::double precision AS seconds,
    COALESCE(data_quality_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)), false)::integer::bigint AS low_rows,
        CASE
            WHEN COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN COALESCE(action_count, 0)
            ELSE 0
        END::bigint AS low_actions,
    (stage_duration IS NOT NULL AND COALESCE(data_quality_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)), false))::integer::bigint AS low_durations,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 AND COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN action_count
            ELSE 0
        END::bigint AS low_error_actions,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 AND COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN action_count
            ELSE 0
        END::bigint AS low_handoff_actions,
    data_quality_score,
    confidence_score,
    agents_involved
   FROM orchestration_metrics m
  WHERE company_id IS NOT NULL AND recorded_at IS NOT NULL;
CREATE VIEW orchdash.log_facts WITH (security_invoker = true) AS
 SELECT company_id,
    venture_id,
    stage_id,
    recorded_at,
    (recorded_at AT TIME ZONE (( SELECT s.zone
           FROM orchdash.rollup_settings s)))::date AS day,
    stage_duration,
    EXTRACT(year FROM stage_duration) <> 0::numeric AS irregular,
    COALESCE(action_count, 0)::bigint AS actions,
    COALESCE(success_count, 0)::bigint AS successes,
    COALESCE(failure_count, 0)::bigint AS failures,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 THEN (error_rate * 10000::numeric)::bigint * action_count
            ELSE 0::bigint
        END AS error_num,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 THEN action_count
            ELSE 0
        END::bigint AS error_actions,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 THEN (handoff_efficiency * 100::numeric)::bigint * action_count
            ELSE 0::bigint
        END AS handoff_num,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 THEN action_count
            ELSE 0
        END::bigint AS handoff_actions,
    (stage_duration IS NOT NULL)::integer::bigint AS durations,
    COALESCE(EXTRACT(epoch FROM stage_duration), 0::numeric) AS duration_sum,
    COALESCE(chairman_interventions, 0)::bigint AS interventions,
    COALESCE(chairman_approvals, 0)::bigint AS approvals,
    COALESCE(chairman_rejections, 0)::bigint AS rejections,
    COALESCE((compute_cost * 100::numeric)::bigint, 0::bigint) AS compute_cost,
    COALESCE(api_calls_made, 0)::bigint AS api_calls,
    COALESCE((data_quality_score * 100::numeric)::bigint, 0::bigint) AS quality_sum,
    (data_quality_score IS NOT NULL)::integer::bigint AS quality_n,
    COALESCE((confidence_score * 100::numeric)::bigint, 0::bigint) AS confidence_sum,
    (confidence_score IS NOT NULL)::integer::bigint AS confidence_n,
    (compute_cost IS NOT NULL)::integer::bigint AS cost_n,
    COALESCE(EXTRACT(epoch FROM agent_response_time), 0::numeric) AS response_sum,
    (agent_response_time IS NOT NULL)::integer::bigint AS response_n,
    sign,
    COALESCE(data_quality_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)), false)::integer::bigint AS low_rows,
        CASE
            WHEN COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN COALESCE(action_count, 0)
            ELSE 0
        END::bigint AS low_actions,
    (stage_duration IS NOT NULL AND COALESCE(data_quality_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
           FROM orchdash.rollup_settings s)), false))::integer::bigint AS low_durations,
        CASE
            WHEN error_rate IS NOT NULL AND action_count > 0 AND COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN action_count
            ELSE 0
        END::bigint AS low_error_actions,
        CASE
            WHEN handoff_efficiency IS NOT NULL AND action_count > 0 AND COALESCE(data_quality_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)) OR confidence_score < (( SELECT s.low_threshold
               FROM orchdash.rollup_settings s)), false) THEN action_count
            ELSE 0
        END::bigint AS low_handoff_actions
   FROM orchdash.rollup_log m;
"""

INDEXES = r"""
CREATE INDEX orchdash_metrics_durations ON public.orchestration_metrics USING btree (company_id, stage_id, stage_duration) INCLUDE (recorded_at) WHERE (stage_duration IS NOT NULL);
CREATE INDEX orchdash_metrics_venture_durations ON public.orchestration_metrics USING btree (venture_id, stage_id, stage_duration) INCLUDE (recorded_at, company_id) WHERE (stage_duration IS NOT NULL);
CREATE INDEX orchdash_metrics_venture_stages ON public.orchestration_metrics USING btree (venture_id, stage_id, recorded_at) INCLUDE (stage_duration, company_id);
"""

TRIGGERS = (
    r"""
CREATE TRIGGER orchdash_agents_delete AFTER DELETE ON public.orchestration_metrics REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.agent_changes()
""",
    r"""
CREATE TRIGGER orchdash_agents_insert AFTER INSERT ON public.orchestration_metrics REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.agent_changes()
""",
    r"""
CREATE TRIGGER orchdash_agents_truncate AFTER TRUNCATE ON public.orchestration_metrics FOR EACH STATEMENT EXECUTE FUNCTION orchdash.agent_clear()
""",
    r"""
CREATE TRIGGER orchdash_agents_update AFTER UPDATE ON public.orchestration_metrics REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.agent_changes()
""",
    r"""
CREATE TRIGGER orchdash_rollup_delete AFTER DELETE ON public.orchestration_metrics REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes()
""",
    r"""
CREATE TRIGGER orchdash_rollup_insert AFTER INSERT ON public.orchestration_metrics REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes()
""",
    r"""
CREATE TRIGGER orchdash_rollup_truncate AFTER TRUNCATE ON public.orchestration_metrics FOR EACH STATEMENT EXECUTE FUNCTION orchdash.clear_on_truncate()
""",
    r"""
CREATE TRIGGER orchdash_rollup_update AFTER UPDATE ON public.orchestration_metrics REFERENCING OLD TABLE AS deleted NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchdash.log_changes()
""",
)

POLICIES = r"""
ALTER TABLE orchdash.agent_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_totals_company_access ON orchdash.agent_totals FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.duration_day_prefix ENABLE ROW LEVEL SECURITY;
CREATE POLICY duration_day_prefix_company_access ON orchdash.duration_day_prefix FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.duration_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY duration_days_company_access ON orchdash.duration_days FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.duration_month_prefix ENABLE ROW LEVEL SECURITY;
CREATE POLICY duration_month_prefix_company_access ON orchdash.duration_month_prefix FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.irregular_durations ENABLE ROW LEVEL SECURITY;
CREATE POLICY irregular_durations_company_access ON orchdash.irregular_durations FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.metric_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY metric_totals_company_access ON orchdash.metric_totals FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.rollup_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY rollup_log_company_access ON orchdash.rollup_log FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.venture_day_prefix ENABLE ROW LEVEL SECURITY;
CREATE POLICY venture_day_prefix_company_access ON orchdash.venture_day_prefix FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
ALTER TABLE orchdash.venture_duration_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY venture_duration_days_company_access ON orchdash.venture_duration_days FOR SELECT TO orchdash_reader
    USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                   WHERE a.user_id = auth.uid() AND a.is_active)));
"""

GRANTS = r"""
REVOKE ALL ON ALL TABLES IN SCHEMA orchdash FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA orchdash FROM PUBLIC, anon, authenticated, service_role;
GRANT USAGE ON SCHEMA orchdash TO orchdash_reader;
GRANT SELECT ON orchdash.agent_settings, orchdash.rollup_settings, orchdash.metric_facts,
    orchdash.log_facts, orchdash.agent_totals, orchdash.duration_day_prefix, orchdash.duration_days,
    orchdash.duration_month_prefix, orchdash.irregular_durations, orchdash.metric_totals,
    orchdash.rollup_log, orchdash.venture_day_prefix, orchdash.venture_duration_days
    TO orchdash_reader;
GRANT EXECUTE ON FUNCTION orchdash.bin_floor(integer) TO orchdash_reader;
GRANT EXECUTE ON FUNCTION orchdash.log_bin(double precision) TO orchdash_reader;
GRANT EXECUTE ON FUNCTION orchdash.duration_bin(interval) TO orchdash_reader;
GRANT EXECUTE ON FUNCTION orchdash.coarse_bin(integer) TO orchdash_reader;
GRANT EXECUTE ON FUNCTION orchdash.middle_bin(integer, integer[], integer, integer[], integer[], bigint[], bigint) TO orchdash_reader;
"""

READER_CHECK = r"""
DO $$
DECLARE
  t text;
  f text;
BEGIN
  PERFORM orchdash.require(has_schema_privilege('orchdash_reader', 'orchdash', 'USAGE'),
    'orchdash_reader has no USAGE on schema orchdash',
    'GRANT USAGE ON SCHEMA orchdash TO orchdash_reader');
  FOREACH t IN ARRAY ARRAY[
    'agent_settings',
    'rollup_settings',
    'metric_facts',
    'log_facts',
    'agent_totals',
    'duration_day_prefix',
    'duration_days',
    'duration_month_prefix',
    'irregular_durations',
    'metric_totals',
    'rollup_log',
    'venture_day_prefix',
    'venture_duration_days'
  ] LOOP
    PERFORM orchdash.require(has_table_privilege('orchdash_reader', 'orchdash.' || t, 'SELECT'),
      format('orchdash_reader cannot SELECT orchdash.%s', t),
      format('GRANT SELECT ON orchdash.%s TO orchdash_reader', t));
  END LOOP;
  FOREACH f IN ARRAY ARRAY[
    'orchdash.bin_floor(integer)',
    'orchdash.log_bin(double precision)',
    'orchdash.duration_bin(interval)',
    'orchdash.coarse_bin(integer)',
    'orchdash.middle_bin(integer, integer[], integer, integer[], integer[], bigint[], bigint)'
  ] LOOP
    PERFORM orchdash.require(has_function_privilege('orchdash_reader', f, 'EXECUTE'),
      format('orchdash_reader cannot EXECUTE %s', f),
      format('GRANT EXECUTE ON FUNCTION %s TO orchdash_reader', f));
  END LOOP;
END
$$
"""


def _settings() -> dict[str, object]:
    """The zone and threshold the rollups are built at, from the environment as the app reads it."""
    zone = os.environ.get("ORCHDASH_TIMEZONE", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuntimeError(f"ORCHDASH_TIMEZONE={zone!r} is not a time zone name") from exc
    raw = os.environ.get("ORCHDASH_LOW_CONFIDENCE", "60")
    try:
        threshold = float(raw)
    except ValueError:
        threshold = float("nan")
    if not 0 <= threshold <= 100:
        raise RuntimeError(f"ORCHDASH_LOW_CONFIDENCE={raw!r} is not a number from 0 to 100")
    return {"zone": zone, "threshold": threshold}


def upgrade() -> None:
    settings = _settings()
    op.execute(TABLES)
    # Bodies refer to tables and to each other; they are checked when first run, as pg_dump does.
    op.execute("SET LOCAL check_function_bodies = off")
    for function in FUNCTIONS:
        op.execute(function)
    op.execute("SET LOCAL check_function_bodies = on")
    op.execute(VIEWS)
    op.execute(INDEXES)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(POLICIES)
    op.execute(GRANTS)
    op.execute(READER_CHECK)
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO orchdash.rollup_settings (zone, low_threshold) VALUES (:zone, :threshold)"
        ),
        settings,
    )
    bind.execute(sa.text("INSERT INTO orchdash.agent_settings (zone) VALUES (:zone)"), settings)
    op.execute("SELECT orchdash.rollup_rebuild()")
    op.execute("SELECT orchdash.agent_rebuild()")


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER IF EXISTS orchdash_agents_delete ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_agents_insert ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_agents_truncate ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_agents_update ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_rollup_delete ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_rollup_insert ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_rollup_truncate ON public.orchestration_metrics;
        DROP TRIGGER IF EXISTS orchdash_rollup_update ON public.orchestration_metrics;
        DROP INDEX IF EXISTS public.orchdash_metrics_durations;
        DROP INDEX IF EXISTS public.orchdash_metrics_venture_durations;
        DROP INDEX IF EXISTS public.orchdash_metrics_venture_stages;
        DROP VIEW IF EXISTS orchdash.metric_facts, orchdash.log_facts;
        DROP TABLE IF EXISTS orchdash.agent_settings, orchdash.agent_totals,
            orchdash.duration_day_prefix, orchdash.duration_days, orchdash.duration_month_prefix,
            orchdash.irregular_durations, orchdash.metric_totals, orchdash.rollup_log,
            orchdash.rollup_settings, orchdash.venture_day_prefix, orchdash.venture_duration_days;
        """
    )
    op.execute(
        """
        DO $$
        DECLARE
          f text;
        BEGIN
          -- Names first: a CASCADE may drop a later one (bin_floor takes duration_bin along).
          FOREACH f IN ARRAY ARRAY(
            SELECT p.oid::regprocedure::text FROM pg_proc AS p
            WHERE p.pronamespace = 'orchdash'::regnamespace AND p.proname <> 'require'
          ) LOOP
            EXECUTE 'DROP FUNCTION IF EXISTS ' || f || ' CASCADE';
          END LOOP;
        END
        $$
        """
    )
