-- The median stage duration (percentile_cont(0.5), seconds) of each venture x stage cell the
-- caller lists (:cell_companies, :cell_ventures, :cell_stages: the cells with measured
-- durations, known from the rollups), over [start_ts, end_ts).
-- Each cell reads only its own rows of the period, in one range of the index
-- orchdash_metrics_venture_stages (venture, stage, time; duration and company included), and
-- sorts only them: no sort of the period's rows as a whole. Read as the user, under RLS, with
-- the explicit company filter beside it.
-- The agents filter as everywhere (rows naming any of :agents, or all of them).
-- params: company_ids, cell_companies, cell_ventures, cell_stages, start_ts, end_ts, agents, agents_all
SELECT
    CAST(c.company_id AS text) AS company_id,
    CAST(c.venture_id AS text) AS venture_id,
    c.stage_id,
    v.p50_s
FROM unnest(CAST(:cell_companies AS uuid[]), CAST(:cell_ventures AS uuid[]),
            CAST(:cell_stages AS integer[])) AS c(company_id, venture_id, stage_id)
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
