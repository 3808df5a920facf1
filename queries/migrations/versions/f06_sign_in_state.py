"""Sign-in state in the database: sessions, sign-in tickets, export links, throttle, SSO links.

Every replica of the app reads and writes the same state, so a restart or a second replica keeps
everyone signed in, and a sign-out ends the session in all of them. The tables live in schema
``orchdash``, owned by the migrating role, with no privilege for anyone else: the runtime role
``orchdash_app`` reaches them only through the ``SECURITY DEFINER`` functions below (pinned
``search_path``, executable by ``orchdash_app`` only), and the tenant roles not at all.

Secrets are never stored: a session id, a ticket and an export link are random values that only
the browser holds; the tables keep their SHA-256, so a copy of the tables signs nobody in. The
throttle's keys (an account's email, a client address) are hashed the same way. Expired rows are
deleted by the functions themselves (at every sign-in, ticket and failure), so nothing has to be
scheduled.

- Sessions: ``session_open`` (by ``ticket_redeem``), ``session_get`` (every page run and every
  download: the live session of an open account, its idle time restarted; a session of a closed
  account ends with all of that account's sessions), ``session_end``, ``session_end_user``.
- Tickets: ``ticket_issue`` when a sign-in succeeds inside a page run, ``ticket_redeem`` (once,
  within seconds) by the route that sets the cookie.
- Export links: ``export_link_create`` for a live session, ``export_link_open`` only with that
  same session (the cookie of the browser that asked for it).
- Throttle: ``sign_in_wait`` (the longest wait of the given keys, and of everyone when the global
  ceiling of failures per minute is reached), ``sign_in_failed``, ``sign_in_succeeded``.
- SSO: ``identity_user`` (the account linked to an issuer and subject), ``identity_link`` (the
  first link of an account, made on a verified email of an allowed issuer).

Revision ID: f06
Revises: f05
Create Date: 2026-12-02
"""

from alembic import op

revision = "f06"
down_revision = "f05"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE orchdash.sessions (
    id_sha256 bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    user_id uuid NOT NULL,
    email text NOT NULL CHECK (length(email) <= 320),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    idle interval NOT NULL,
    ends_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON orchdash.sessions (user_id);
CREATE INDEX sessions_ends_at ON orchdash.sessions (ends_at);

CREATE TABLE orchdash.sign_in_tickets (
    id_sha256 bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    user_id uuid NOT NULL,
    email text NOT NULL CHECK (length(email) <= 320),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sign_in_tickets_expires_at ON orchdash.sign_in_tickets (expires_at);

CREATE TABLE orchdash.export_links (
    id_sha256 bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    session_sha256 bytea NOT NULL REFERENCES orchdash.sessions ON DELETE CASCADE,
    filters jsonb NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX export_links_session ON orchdash.export_links (session_sha256);
CREATE INDEX export_links_expires_at ON orchdash.export_links (expires_at);

CREATE TABLE orchdash.sign_in_failures (
    key_sha256 bytea PRIMARY KEY CHECK (length(key_sha256) = 32),
    failures integer NOT NULL CHECK (failures > 0),
    next_attempt_at timestamptz NOT NULL,
    forget_at timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_forget_at ON orchdash.sign_in_failures (forget_at);

CREATE TABLE orchdash.sign_in_load (
    minute timestamptz PRIMARY KEY,
    failures integer NOT NULL
);

CREATE TABLE orchdash.identity_links (
    issuer text NOT NULL CHECK (length(issuer) <= 500),
    subject text NOT NULL CHECK (length(subject) <= 500),
    user_id uuid NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject),
    UNIQUE (issuer, user_id)
);
"""

FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION orchdash.sign_in_cleanup()
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    DELETE FROM orchdash.sessions WHERE ends_at <= now() OR last_seen_at + idle <= now();
    DELETE FROM orchdash.sign_in_tickets WHERE expires_at <= now();
    DELETE FROM orchdash.export_links WHERE expires_at <= now();
    DELETE FROM orchdash.sign_in_failures WHERE forget_at <= now();
    DELETE FROM orchdash.sign_in_load WHERE minute < now() - interval '1 hour';
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.session_get(p_id bytea, p_touch boolean)
 RETURNS TABLE(user_id uuid, email text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    found_user uuid;
BEGIN
    DELETE FROM orchdash.sessions AS s
    WHERE s.id_sha256 = p_id AND (s.ends_at <= now() OR s.last_seen_at + s.idle <= now());
    SELECT s.user_id INTO found_user FROM orchdash.sessions AS s WHERE s.id_sha256 = p_id;
    IF found_user IS NULL THEN
        RETURN;
    END IF;
    IF NOT coalesce((SELECT orchdash.account_open(to_jsonb(u))
                     FROM auth.users AS u WHERE u.id = found_user), false) THEN
        DELETE FROM orchdash.sessions AS s WHERE s.user_id = found_user;
        RETURN;
    END IF;
    -- A page run restarts the idle clock; a write every few seconds is enough for that.
    IF p_touch THEN
        UPDATE orchdash.sessions AS s SET last_seen_at = now()
        WHERE s.id_sha256 = p_id AND s.last_seen_at < now() - interval '5 seconds';
    END IF;
    RETURN QUERY SELECT s.user_id, s.email FROM orchdash.sessions AS s WHERE s.id_sha256 = p_id;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.session_end(p_id bytea)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    DELETE FROM orchdash.sessions WHERE id_sha256 = p_id;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.session_end_user(p_user uuid)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    DELETE FROM orchdash.sessions WHERE user_id = p_user;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.ticket_issue(p_id bytea, p_user uuid, p_email text, p_seconds double precision)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT orchdash.sign_in_cleanup();
    INSERT INTO orchdash.sign_in_tickets (id_sha256, user_id, email, expires_at)
    VALUES (p_id, p_user, p_email, now() + make_interval(secs => p_seconds));
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.ticket_redeem(p_ticket bytea, p_session bytea, p_idle_seconds double precision, p_max_seconds double precision)
 RETURNS TABLE(user_id uuid, email text)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    WITH spent AS (
        DELETE FROM orchdash.sign_in_tickets AS t
        WHERE t.id_sha256 = p_ticket
        RETURNING t.user_id, t.email, t.expires_at
    )
    INSERT INTO orchdash.sessions AS s (id_sha256, user_id, email, idle, ends_at)
    SELECT p_session, spent.user_id, spent.email, make_interval(secs => p_idle_seconds),
           now() + make_interval(secs => p_max_seconds)
    FROM spent
    WHERE spent.expires_at > now()
    RETURNING s.user_id, s.email;
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.export_link_create(p_id bytea, p_session bytea, p_filters jsonb, p_seconds double precision)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    WITH made AS (
        INSERT INTO orchdash.export_links (id_sha256, session_sha256, filters, expires_at)
        SELECT p_id, s.id_sha256, p_filters, now() + make_interval(secs => p_seconds)
        FROM orchdash.sessions AS s
        WHERE s.id_sha256 = p_session AND s.ends_at > now() AND s.last_seen_at + s.idle > now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM made);
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.export_link_open(p_id bytea, p_session bytea)
 RETURNS TABLE(user_id uuid, filters jsonb)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT s.user_id, l.filters
    FROM orchdash.export_links AS l
    JOIN orchdash.sessions AS s ON s.id_sha256 = l.session_sha256
    WHERE l.id_sha256 = p_id AND l.session_sha256 = p_session AND l.expires_at > now()
      AND s.ends_at > now() AND s.last_seen_at + s.idle > now();
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.sign_in_wait(p_keys bytea[], p_ceiling integer)
 RETURNS double precision
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT greatest(
        0,
        (SELECT max(extract(epoch FROM f.next_attempt_at - now()))
         FROM orchdash.sign_in_failures AS f
         WHERE f.key_sha256 = ANY(p_keys) AND f.forget_at > now()),
        (SELECT extract(epoch FROM l.minute + interval '1 minute' - now())
         FROM orchdash.sign_in_load AS l
         WHERE l.minute = date_trunc('minute', now()) AND l.failures >= p_ceiling))
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.sign_in_failed(p_keys bytea[], p_free integer[], p_first_seconds double precision[], p_max_seconds double precision[], p_forget_seconds double precision)
 RETURNS double precision
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    i integer;
    n integer;
    delay double precision;
    longest double precision := 0;
BEGIN
    DELETE FROM orchdash.sign_in_failures WHERE forget_at <= now();
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        INSERT INTO orchdash.sign_in_failures AS f (key_sha256, failures, next_attempt_at, forget_at)
        VALUES (p_keys[i], 1, now(), now() + make_interval(secs => p_forget_seconds))
        ON CONFLICT (key_sha256) DO UPDATE
            SET failures = f.failures + 1,
                forget_at = now() + make_interval(secs => p_forget_seconds)
        RETURNING f.failures INTO n;
        -- The wait doubles with each failure past the free ones, up to this key's longest.
        delay := CASE WHEN n > p_free[i]
                      THEN least(p_first_seconds[i] * power(2, least(n - p_free[i] - 1, 30)),
                                 p_max_seconds[i])
                      ELSE 0 END;
        UPDATE orchdash.sign_in_failures SET next_attempt_at = now() + make_interval(secs => delay)
        WHERE key_sha256 = p_keys[i];
        longest := greatest(longest, delay);
    END LOOP;
    INSERT INTO orchdash.sign_in_load AS l (minute, failures)
    VALUES (date_trunc('minute', now()), 1)
    ON CONFLICT (minute) DO UPDATE SET failures = l.failures + 1;
    RETURN longest;
END
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.sign_in_succeeded(p_keys bytea[])
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    DELETE FROM orchdash.sign_in_failures WHERE key_sha256 = ANY(p_keys);
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.identity_user(p_issuer text, p_subject text)
 RETURNS uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT i.user_id
    FROM orchdash.identity_links AS i
    JOIN auth.users AS u ON u.id = i.user_id
    WHERE i.issuer = p_issuer AND i.subject = p_subject AND orchdash.account_open(to_jsonb(u))
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.identity_link(p_issuer text, p_subject text, p_user uuid)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    -- The first link of an account for this issuer; never a second subject for the same account.
    INSERT INTO orchdash.identity_links (issuer, subject, user_id)
    VALUES (p_issuer, p_subject, p_user)
    ON CONFLICT DO NOTHING;
    SELECT EXISTS (
        SELECT FROM orchdash.identity_links
        WHERE issuer = p_issuer AND subject = p_subject AND user_id = p_user);
$function$
""",
)

# Every table closed to everyone; the functions' EXECUTE for orchdash_app only (sign_in_cleanup
# for nobody: the other functions call it), each grant followed by a check that it holds.
GRANTS = r"""
DO $$
DECLARE
  t text;
  f text;
  r text;
  tables text[] := ARRAY[
    'orchdash.sessions', 'orchdash.sign_in_tickets', 'orchdash.export_links',
    'orchdash.sign_in_failures', 'orchdash.sign_in_load', 'orchdash.identity_links'];
  doors text[] := ARRAY[
    'orchdash.session_get(bytea, boolean)',
    'orchdash.session_end(bytea)',
    'orchdash.session_end_user(uuid)',
    'orchdash.ticket_issue(bytea, uuid, text, double precision)',
    'orchdash.ticket_redeem(bytea, bytea, double precision, double precision)',
    'orchdash.export_link_create(bytea, bytea, jsonb, double precision)',
    'orchdash.export_link_open(bytea, bytea)',
    'orchdash.sign_in_wait(bytea[], integer)',
    'orchdash.sign_in_failed(bytea[], integer[], double precision[], double precision[], double precision)',
    'orchdash.sign_in_succeeded(bytea[])',
    'orchdash.identity_user(text, text)',
    'orchdash.identity_link(text, text, uuid)'];
BEGIN
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, anon, authenticated, service_role', t);
    FOREACH r IN ARRAY ARRAY['orchdash_app', 'orchdash_reader', 'anon', 'authenticated',
                             'service_role'] LOOP
      PERFORM orchdash.require(
        NOT has_table_privilege(r, t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
        format('%s has a privilege on %s, which only its functions may touch', r, t),
        format('REVOKE ALL ON %s FROM %s', t, r));
    END LOOP;
  END LOOP;
  FOREACH f IN ARRAY doors || ARRAY['orchdash.sign_in_cleanup()'] LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated, service_role', f);
  END LOOP;
  FOREACH f IN ARRAY doors LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO orchdash_app', f);
    PERFORM orchdash.require(has_function_privilege('orchdash_app', f, 'EXECUTE'),
      format('orchdash_app cannot EXECUTE %s', f),
      format('GRANT EXECUTE ON FUNCTION %s TO orchdash_app', f));
  END LOOP;
  FOREACH f IN ARRAY doors || ARRAY['orchdash.sign_in_cleanup()'] LOOP
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'orchdash_reader'] LOOP
      PERFORM orchdash.require(NOT has_function_privilege(r, f, 'EXECUTE'),
        format('%s can EXECUTE %s, which only orchdash_app may call', r, f),
        format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %s', f, r));
    END LOOP;
  END LOOP;
  PERFORM orchdash.require(
    NOT has_function_privilege('orchdash_app', 'orchdash.sign_in_cleanup()', 'EXECUTE'),
    'orchdash_app can EXECUTE orchdash.sign_in_cleanup(), which only the other functions call',
    'REVOKE ALL ON FUNCTION orchdash.sign_in_cleanup() FROM PUBLIC, orchdash_app');
END
$$
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS orchdash.identity_link(text, text, uuid);
DROP FUNCTION IF EXISTS orchdash.identity_user(text, text);
DROP FUNCTION IF EXISTS orchdash.sign_in_succeeded(bytea[]);
DROP FUNCTION IF EXISTS orchdash.sign_in_failed(bytea[], integer[], double precision[], double precision[], double precision);
DROP FUNCTION IF EXISTS orchdash.sign_in_wait(bytea[], integer);
DROP FUNCTION IF EXISTS orchdash.export_link_open(bytea, bytea);
DROP FUNCTION IF EXISTS orchdash.export_link_create(bytea, bytea, jsonb, double precision);
DROP FUNCTION IF EXISTS orchdash.ticket_redeem(bytea, bytea, double precision, double precision);
DROP FUNCTION IF EXISTS orchdash.ticket_issue(bytea, uuid, text, double precision);
DROP FUNCTION IF EXISTS orchdash.session_end_user(uuid);
DROP FUNCTION IF EXISTS orchdash.session_end(bytea);
DROP FUNCTION IF EXISTS orchdash.session_get(bytea, boolean);
DROP FUNCTION IF EXISTS orchdash.sign_in_cleanup();
DROP TABLE IF EXISTS orchdash.identity_links;
DROP TABLE IF EXISTS orchdash.sign_in_load;
DROP TABLE IF EXISTS orchdash.sign_in_failures;
DROP TABLE IF EXISTS orchdash.export_links;
DROP TABLE IF EXISTS orchdash.sign_in_tickets;
DROP TABLE IF EXISTS orchdash.sessions;
"""


def upgrade() -> None:
    op.execute(TABLES)
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
