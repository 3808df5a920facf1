"""Venture health's cell medians from cumulative histograms per venture and stage.

Migration 0008 let a cell's median read the cell's durations in order up to the middle one: half
the cell's rows, about a second for a page at ten million rows. Here, as 0004 did per company and
stage, the rollups keep per company, venture and stage:

- ``venture_duration_days``: per local day, how many durations fell into each coarse bin
  (``coarse_bin(duration_bin(d))``: 30 bins per e-fold of 1 + |seconds|, 3.3 % wide);
- ``venture_day_prefix``: the same, cumulative over all days up to and including each one.

The coarse histogram of any period of local days is then the difference of two arrays, plus what
the log holds since the last fold; the bin of the middle rank is found in it, and the median is
read from that bin's raw durations through 0008's index (a few dozen rows), as the user, under
RLS (queries/sql/health_medians.sql). ``rollup_rebuild`` fills both, ``rollup_fold`` merges the
log into them (both re-rendered from 0006's text), and a TRUNCATE of the metrics empties them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from alembic import op

from queries.schema import earlier_migration

R0004 = earlier_migration("0004_rollup.py")
R0006 = earlier_migration("0006_low_confidence.py")

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("venture_duration_days", "venture_day_prefix")
MIDDLE_BIN_SIGNATURE = (
    "orchdash.middle_bin(integer, integer[], integer, integer[], integer[], bigint[], bigint)"
)
API_ROLES = "PUBLIC, anon, authenticated, service_role"

SCHEMA = """
CREATE TABLE orchdash.venture_duration_days (
    company_id uuid NOT NULL,
    venture_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,
    bins integer[] NOT NULL,     -- coarse bins, ascending
    counts integer[] NOT NULL,   -- durations in each
    PRIMARY KEY (company_id, venture_id, stage_id, day)
);
CREATE TABLE orchdash.venture_day_prefix (
    company_id uuid NOT NULL,
    venture_id uuid NOT NULL,
    stage_id integer NOT NULL,
    day date NOT NULL,           -- cumulative over all days up to and including this one
    base integer NOT NULL,       -- the coarse bin of counts[1]
    counts integer[] NOT NULL,
    PRIMARY KEY (company_id, venture_id, stage_id, day)
);
"""

# Like 0004's rebuild_duration_prefixes, for one venture and stage and coarse bins only.
PREFIXES = r"""
CREATE FUNCTION orchdash.rebuild_venture_prefixes(p_company uuid, p_venture uuid,
                                                  p_stage integer, p_from date)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
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
$$;
"""

# Read by the user's query, once per cell: a loop over one cell's bins in plpgsql costs a few
# microseconds, where unnest, sort and window in SQL cost about 0.1 ms.
MIDDLE_BIN = r"""
CREATE FUNCTION orchdash.middle_bin(hi_base integer, hi integer[], lo_base integer, lo integer[],
                                    log_bins integer[], log_counts bigint[], p_rank bigint,
                                    OUT bin integer, OUT below bigint)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
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
    IF logged = 0 AND hi IS NOT NULL THEN
        -- The common case: lo's bins lie within hi's (the arrays only widen over the days).
        FOR i IN 1 .. cardinality(hi) LOOP
            n := hi[i];
            IF i > lo_off AND i <= lo_off + lo_n THEN
                n := n - lo[i - lo_off];
            END IF;
            IF below + n > p_rank THEN
                bin := hi_base + i - 1;
                RETURN;
            END IF;
            below := below + n;
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
$$;
"""

# Each place in 0006's rebuild and fold that gains the venture histograms: (anchor, new text).
_TRUNCATED = "orchdash.irregular_durations;"
_VENTURE_TRUNCATED = (
    "orchdash.irregular_durations,\n"
    "             orchdash.venture_duration_days, orchdash.venture_day_prefix;"
)
_REBUILD_LOOP = (
    "    FOR r IN SELECT DISTINCT d.company_id, d.stage_id FROM orchdash.duration_days AS d LOOP\n"
)
_REBUILD_VENTURES = """    INSERT INTO orchdash.venture_duration_days
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
"""
_ANALYZED = "orchdash.duration_month_prefix, orchdash.irregular_durations;"
_VENTURE_ANALYZED = (
    "orchdash.duration_month_prefix, orchdash.irregular_durations,\n"
    "            orchdash.venture_duration_days, orchdash.venture_day_prefix;"
)
_FOLD_TEMP = "    TRUNCATE pg_temp.orchdash_deltas, pg_temp.orchdash_bins;\n"
_FOLD_VENTURE_TEMP = """    CREATE TEMP TABLE IF NOT EXISTS orchdash_venture_bins (
        company_id uuid, venture_id uuid, stage_id integer, day date, bin integer, n bigint
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.orchdash_deltas, pg_temp.orchdash_bins, pg_temp.orchdash_venture_bins;
"""
_FOLD_LONG = "    long AS (\n"
_FOLD_VENTURE_BINS = """    venture_bins AS (
        INSERT INTO pg_temp.orchdash_venture_bins
        SELECT f.company_id, f.venture_id, f.stage_id, f.day,
               orchdash.coarse_bin(orchdash.duration_bin(f.stage_duration)), sum(f.sign)
        FROM facts AS f
        WHERE f.venture_id IS NOT NULL AND f.stage_id IS NOT NULL
          AND f.stage_duration IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    ),
    long AS (
"""
_FOLD_END = "    RETURN done;\nEND\n$$;"
_FOLD_VENTURES = """    -- The same for the venture histograms.
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
$$;"""


def _replaced(text: str, *pairs: tuple[str, str]) -> str:
    """``text`` with each anchor, which must occur exactly once, replaced."""
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _rebuild_and_fold() -> tuple[str, str]:
    rebuild, fold = R0006._rebuild_and_fold()
    rebuild = _replaced(
        rebuild,
        (_ANALYZED, _VENTURE_ANALYZED),
        (_TRUNCATED, _VENTURE_TRUNCATED),
        (_REBUILD_LOOP, _REBUILD_VENTURES + _REBUILD_LOOP),
    )
    fold = _replaced(
        fold,
        (_FOLD_TEMP, _FOLD_VENTURE_TEMP),
        (_FOLD_LONG, _FOLD_VENTURE_BINS),
        (_FOLD_END, _FOLD_VENTURES),
    )
    return R0006._or_replace(rebuild), fold


def _clear_on_truncate(with_ventures: bool) -> str:
    start = R0004.TRIGGER_FUNCTIONS.index("CREATE FUNCTION orchdash.clear_on_truncate()")
    end = R0004.TRIGGER_FUNCTIONS.index("$$;", start) + len("$$;")
    text = R0006._or_replace(R0004.TRIGGER_FUNCTIONS[start:end])
    return _replaced(text, (_TRUNCATED, _VENTURE_TRUNCATED)) if with_ventures else text


def upgrade() -> None:
    op.execute(SCHEMA)
    for table in TABLES:
        op.execute(f"ALTER TABLE orchdash.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_company_access ON orchdash.{table}"
            f" FOR SELECT TO authenticated USING ({R0004.ACTIVE_COMPANIES})"
        )
        op.execute(f"REVOKE ALL ON orchdash.{table} FROM {API_ROLES}")
        op.execute(f"GRANT SELECT ON orchdash.{table} TO authenticated")
    op.execute(PREFIXES)
    op.execute(MIDDLE_BIN)
    op.execute(f"REVOKE ALL ON FUNCTION {MIDDLE_BIN_SIGNATURE} FROM {API_ROLES}")
    op.execute(f"GRANT EXECUTE ON FUNCTION {MIDDLE_BIN_SIGNATURE} TO authenticated")
    op.execute(
        "REVOKE ALL ON FUNCTION orchdash.rebuild_venture_prefixes(uuid, uuid, integer, date)"
        f" FROM {API_ROLES}"
    )
    rebuild, fold = _rebuild_and_fold()
    op.execute(rebuild)
    op.execute(fold)
    op.execute(_clear_on_truncate(with_ventures=True))
    op.execute("SELECT orchdash.rollup_rebuild()")


def downgrade() -> None:
    rebuild, fold = R0006._rebuild_and_fold()
    op.execute(R0006._or_replace(rebuild))
    op.execute(fold)
    op.execute(_clear_on_truncate(with_ventures=False))
    op.execute("DROP FUNCTION orchdash.rebuild_venture_prefixes(uuid, uuid, integer, date)")
    op.execute(f"DROP FUNCTION {MIDDLE_BIN_SIGNATURE}")
    op.execute("DROP TABLE orchdash.venture_day_prefix, orchdash.venture_duration_days")
