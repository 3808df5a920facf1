"""Email: the users' subscriptions to a page, and the record of every message the sender sends.

- ``orchdash.subscriptions``: a page (its URL path), its filters as a URL query, the preset
  period to recompute at each send (or ``Custom range``), every day or week (Monday) at a local
  hour in a time zone. Row-level security lets the runtime role, as ``orchdash_reader`` with the
  signed-in user's claims, read, add, change and delete that user's own rows only
  (``user_id = auth.uid()``): the policy, not the code, keeps a user out of another's. A user asks
  for a message now by setting ``requested_at``.
- ``orchdash.messages``: one row per message (a digest of a subscription, later an alert of a
  rule: ``kind`` and ``about``) and occasion (the local date of its slot, or the time of a
  request), unique, so that a restart or a second replica never sends one twice: the sender
  claims the row before it sends and records the outcome after. The user reads their own
  (``recipient = auth.uid()``) to see what was sent, skipped and why, or failed and when it is
  tried again; only the functions below write it.

The sender (``orchdash run``'s process, elected by an advisory lock) reaches every user's
subscriptions and their addresses in ``auth.users`` only through these ``SECURITY DEFINER``
functions, executable by ``orchdash_app`` alone:
``mail_subscriptions()``, ``mail_claim(...)``, ``mail_done(...)``. What a message holds is read
as its recipient, through the same scoped transaction as a page.

Revision ID: f08
Revises: f07
Create Date: 2026-12-03
"""

from alembic import op

revision = "f08"
down_revision = "f07"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE orchdash.subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL DEFAULT auth.uid(),
    page text NOT NULL CHECK (page ~ '^[a-z][a-z-]{0,39}$'),
    query text NOT NULL DEFAULT '' CHECK (length(query) <= 4000),
    period text NOT NULL CHECK (length(period) BETWEEN 1 AND 40),
    every text NOT NULL CHECK (every IN ('day', 'week')),
    hour smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    tz text NOT NULL CHECK (length(tz) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    requested_at timestamptz
);
CREATE INDEX subscriptions_user ON orchdash.subscriptions (user_id);
ALTER TABLE orchdash.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_own ON orchdash.subscriptions FOR ALL TO orchdash_reader
    USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

CREATE TABLE orchdash.messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('digest', 'alert')),
    about uuid NOT NULL,
    occasion text NOT NULL CHECK (length(occasion) BETWEEN 1 AND 100),
    recipient uuid NOT NULL,
    status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
    attempts integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    next_attempt_at timestamptz,
    message_id text CHECK (length(message_id) <= 300),
    detail text CHECK (length(detail) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, about, occasion)
);
CREATE INDEX messages_recipient ON orchdash.messages (recipient, updated_at);
ALTER TABLE orchdash.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_own ON orchdash.messages FOR SELECT TO orchdash_reader
    USING (recipient = auth.uid());
"""

FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION orchdash.mail_subscriptions()
 RETURNS TABLE(id uuid, user_id uuid, email text, account_open boolean, page text, query text, period text, every text, hour smallint, tz text, created_at timestamp with time zone, requested_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT s.id, s.user_id, CAST(u.email AS text),
           coalesce(orchdash.account_open(to_jsonb(u)), false),
           s.page, s.query, s.period, s.every, s.hour, s.tz, s.created_at, s.requested_at
    FROM orchdash.subscriptions AS s
    LEFT JOIN auth.users AS u ON u.id = s.user_id
    ORDER BY s.created_at, s.id;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.mail_claim(p_kind text, p_about uuid, p_recipient uuid, p_occasion text, p_message_id text)
 RETURNS TABLE(id bigint, attempts integer)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    -- A new occasion, a failure whose retry is due, or a send interrupted long ago (its sender
    -- died holding the claim): anything else is sent, skipped, or being sent, and is left alone.
    INSERT INTO orchdash.messages AS m (kind, about, recipient, occasion, message_id, status)
    VALUES (p_kind, p_about, p_recipient, p_occasion, p_message_id, 'sending')
    ON CONFLICT (kind, about, occasion) DO UPDATE
        SET status = 'sending', attempts = m.attempts + 1, next_attempt_at = NULL,
            updated_at = now()
        WHERE (m.status = 'failed' AND m.next_attempt_at <= now())
           OR (m.status = 'sending' AND m.updated_at < now() - interval '10 minutes')
    RETURNING m.id, m.attempts;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.mail_done(p_id bigint, p_status text, p_detail text, p_retry_seconds double precision)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    UPDATE orchdash.messages
    SET status = p_status, detail = left(p_detail, 2000), updated_at = now(),
        next_attempt_at = CASE WHEN p_retry_seconds IS NULL THEN NULL
                               ELSE now() + make_interval(secs => p_retry_seconds) END
    WHERE id = p_id AND status = 'sending';
$function$
""",
)

GRANTS = r"""
GRANT SELECT, INSERT, UPDATE, DELETE ON orchdash.subscriptions TO orchdash_reader;
GRANT SELECT ON orchdash.messages TO orchdash_reader;
REVOKE ALL ON orchdash.subscriptions, orchdash.messages FROM PUBLIC, anon, authenticated, service_role;
DO $$
DECLARE
  f text;
  r text;
  doors text[] := ARRAY['orchdash.mail_subscriptions()',
    'orchdash.mail_claim(text, uuid, uuid, text, text)',
    'orchdash.mail_done(bigint, text, text, double precision)'];
BEGIN
  PERFORM orchdash.require(
    has_table_privilege('orchdash_reader', 'orchdash.subscriptions', 'SELECT, INSERT, UPDATE, DELETE'),
    'orchdash_reader cannot keep its users'' subscriptions',
    'GRANT SELECT, INSERT, UPDATE, DELETE ON orchdash.subscriptions TO orchdash_reader');
  PERFORM orchdash.require(
    NOT has_table_privilege('orchdash_reader', 'orchdash.messages', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    'orchdash_reader can write orchdash.messages, which only its functions may write',
    'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON orchdash.messages FROM orchdash_reader');
  FOREACH r IN ARRAY ARRAY['orchdash_app', 'anon', 'authenticated', 'service_role'] LOOP
    PERFORM orchdash.require(
      NOT has_table_privilege(r, 'orchdash.subscriptions', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
      AND NOT has_table_privilege(r, 'orchdash.messages', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
      format('%s has a privilege on the mail tables, which only orchdash_reader (under RLS) may reach', r),
      format('REVOKE ALL ON orchdash.subscriptions, orchdash.messages FROM %s', r));
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
DROP FUNCTION IF EXISTS orchdash.mail_done(bigint, text, text, double precision);
DROP FUNCTION IF EXISTS orchdash.mail_claim(text, uuid, uuid, text, text);
DROP FUNCTION IF EXISTS orchdash.mail_subscriptions();
DROP TABLE IF EXISTS orchdash.messages;
DROP TABLE IF EXISTS orchdash.subscriptions;
"""


def upgrade() -> None:
    op.execute(TABLES)
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
