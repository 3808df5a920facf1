"""Alerts: the users' rules on a measure, and the state each rule was last found in.

- ``orchdash.alert_rules``: a measure (error rate, handoff efficiency, the median stage duration,
  chairman interventions, a venture's "What changed" score), a scope (companies, ventures and
  stages, as a URL query of the filters), a comparison (above or below) and a threshold in the
  unit the page shows, and a window (the last N days in a time zone). RLS as for subscriptions:
  the runtime role, as ``orchdash_reader`` with the user's claims, reads and changes the user's
  own rules only (``user_id = auth.uid()``).
- ``orchdash.alert_states``: per rule, whether it holds, since when, the value and rows of the last
  evaluation, and whether its current state is to be announced (``notify``: it started to hold,
  or stopped holding after it had; not a rule that never held). The user reads the states of
  their own rules (the policy reads through the rules' own policy); only ``alert_transition``
  writes them.

The sender evaluates each rule as its owner and records the result with ``alert_transition``,
which changes ``since`` only when the rule starts or stops holding (the times are the sender's
clock, ``p_at``); a message per announced
state (``orchdash.messages``, kind ``alert``, occasion the state and its ``since``) is then
claimed like a digest, so a rule notifies once when it starts to hold and once when it stops,
never on every evaluation, and a restart between the two steps loses nothing.
``mail_rules()`` gives the sender every rule with its owner's address and its state.

Revision ID: f09
Revises: f08
Create Date: 2026-12-03
"""

from alembic import op

revision = "f09"
down_revision = "f08"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE orchdash.alert_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL DEFAULT auth.uid(),
    measure text NOT NULL CHECK (measure IN ('error_rate', 'handoff_efficiency',
        'median_stage_duration', 'interventions', 'change_score')),
    query text NOT NULL DEFAULT '' CHECK (length(query) <= 4000),
    comparison text NOT NULL CHECK (comparison IN ('above', 'below')),
    threshold double precision NOT NULL
        CHECK (threshold <> 'NaN' AND threshold BETWEEN -1e12 AND 1e12),
    window_days integer NOT NULL CHECK (window_days BETWEEN 1 AND 366),
    tz text NOT NULL CHECK (length(tz) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_user ON orchdash.alert_rules (user_id);
ALTER TABLE orchdash.alert_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_rules_own ON orchdash.alert_rules FOR ALL TO orchdash_reader
    USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

CREATE TABLE orchdash.alert_states (
    rule_id uuid PRIMARY KEY REFERENCES orchdash.alert_rules ON DELETE CASCADE,
    holding boolean NOT NULL,
    notify boolean NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    value double precision,
    row_count bigint,
    detail text CHECK (length(detail) <= 2000),
    evaluated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE orchdash.alert_states ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_states_own ON orchdash.alert_states FOR SELECT TO orchdash_reader
    USING (EXISTS (SELECT FROM orchdash.alert_rules AS r WHERE r.id = alert_states.rule_id));
"""

FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION orchdash.mail_rules()
 RETURNS TABLE(id uuid, user_id uuid, email text, account_open boolean, measure text, query text, comparison text, threshold double precision, window_days integer, tz text, created_at timestamp with time zone, holding boolean, notify boolean, since timestamp with time zone, evaluated_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT r.id, r.user_id, CAST(u.email AS text),
           coalesce(orchdash.account_open(to_jsonb(u)), false),
           r.measure, r.query, r.comparison, r.threshold, r.window_days, r.tz, r.created_at,
           s.holding, s.notify, s.since, s.evaluated_at
    FROM orchdash.alert_rules AS r
    LEFT JOIN auth.users AS u ON u.id = r.user_id
    LEFT JOIN orchdash.alert_states AS s ON s.rule_id = r.id
    ORDER BY r.created_at, r.id;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.alert_transition(p_rule uuid, p_holding boolean, p_value double precision, p_rows bigint, p_detail text, p_at timestamp with time zone)
 RETURNS TABLE(changed boolean, since timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    was boolean;
BEGIN
    -- The rule's row, locked: two evaluations of one rule record one transition.
    PERFORM FROM orchdash.alert_rules AS r WHERE r.id = p_rule FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT s.holding INTO was FROM orchdash.alert_states AS s WHERE s.rule_id = p_rule;
    IF NOT FOUND THEN
        -- A first evaluation: a rule that holds starts to hold now; one that does not is normal,
        -- with nothing to announce.
        RETURN QUERY
        INSERT INTO orchdash.alert_states AS s
            (rule_id, holding, notify, since, value, row_count, detail, evaluated_at)
        VALUES (p_rule, p_holding, p_holding, p_at, p_value, p_rows, left(p_detail, 2000), p_at)
        RETURNING p_holding, s.since;
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE orchdash.alert_states AS s
    SET holding = p_holding,
        notify = CASE WHEN was = p_holding THEN s.notify ELSE true END,
        since = CASE WHEN was = p_holding THEN s.since ELSE p_at END,
        value = p_value, row_count = p_rows, detail = left(p_detail, 2000), evaluated_at = p_at
    WHERE s.rule_id = p_rule
    RETURNING was IS DISTINCT FROM p_holding, s.since;
END
$function$
""",
)

GRANTS = r"""
GRANT SELECT, INSERT, UPDATE, DELETE ON orchdash.alert_rules TO orchdash_reader;
GRANT SELECT ON orchdash.alert_states TO orchdash_reader;
REVOKE ALL ON orchdash.alert_rules, orchdash.alert_states FROM PUBLIC, anon, authenticated, service_role;
DO $$
DECLARE
  f text;
  r text;
  doors text[] := ARRAY['orchdash.mail_rules()',
    'orchdash.alert_transition(uuid, boolean, double precision, bigint, text, timestamp with time zone)'];
BEGIN
  PERFORM orchdash.require(
    has_table_privilege('orchdash_reader', 'orchdash.alert_rules', 'SELECT, INSERT, UPDATE, DELETE'),
    'orchdash_reader cannot keep its users'' alert rules',
    'GRANT SELECT, INSERT, UPDATE, DELETE ON orchdash.alert_rules TO orchdash_reader');
  PERFORM orchdash.require(
    NOT has_table_privilege('orchdash_reader', 'orchdash.alert_states', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    'orchdash_reader can write orchdash.alert_states, which only its function may write',
    'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON orchdash.alert_states FROM orchdash_reader');
  FOREACH r IN ARRAY ARRAY['orchdash_app', 'anon', 'authenticated', 'service_role'] LOOP
    PERFORM orchdash.require(
      NOT has_table_privilege(r, 'orchdash.alert_rules', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
      AND NOT has_table_privilege(r, 'orchdash.alert_states', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
      format('%s has a privilege on the alert tables, which only orchdash_reader (under RLS) may reach', r),
      format('REVOKE ALL ON orchdash.alert_rules, orchdash.alert_states FROM %s', r));
  END LOOP;
  FOREACH f IN ARRAY doors LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated, service_role', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO orchdash_app', f);
    PERFORM orchdash.require(has_function_privilege('orchdash_app', f, 'EXECUTE'),
      format('orchdash_app cannot EXECUTE %s', f),
      format('GRANT EXECUTE ON FUNCTION %s TO orchdash_app', f));
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'orchdash_reader'] LOOP
      PERFORM orchdash.require(NOT has_function_privilege(r, f, 'EXECUTE'),
        format('%s can EXECUTE %s, which only orchdash_app may call', r, f),
        format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %s', f, r));
    END LOOP;
  END LOOP;
END
$$
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS orchdash.alert_transition(uuid, boolean, double precision, bigint, text, timestamp with time zone);
DROP FUNCTION IF EXISTS orchdash.mail_rules();
DROP TABLE IF EXISTS orchdash.alert_states;
DROP TABLE IF EXISTS orchdash.alert_rules;
"""


def upgrade() -> None:
    op.execute(TABLES)
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
