"""The data layer of the dashboard: typed, tenant-scoped queries, and all that the dashboard needs.

Pages, charts and the dashboard's helpers use only these names (``from queries import X`` or
``import queries``); the modules behind them are this package's own and may move. Every read
takes the engine, the user's :class:`Scope` and (mostly) :class:`Filters`, runs in the user's
scoped transaction and returns a frame of fixed columns (each function's docstring names them).

The owner's modules are not the pages': ``queries.schema`` (migrations), ``queries.admin``
(accounts and access), ``queries.demo`` (the demo data), ``queries.checks`` (``orchdash check``),
``queries.folding`` (the rollups' fold), ``queries.engines`` and ``queries.embedded`` (the
owner's engine, the embedded server). Only the admin command (``dashboard/cli.py``) and the tests
import them.
"""

from queries.agents import agent_activity, agents
from queries.alert_rules import COMPARISONS, MEASURES, Rule, add_rule, delete_rule, my_rules
from queries.attention import venture_attention
from queries.audit import (
    EMPTY_SHA256,
    Action,
    HashingWriter,
    Receipt,
    filters_record,
    my_exports,
    now_utc,
    record_export,
)
from queries.catalog import companies, data_range, scope_for_user, ventures
from queries.changes import DEFAULT_MIN_ACTIONS, venture_changes
from queries.config import data_dir, timezone_name
from queries.criteria import (
    AGENT_MATCHES,
    FIRST_DATE,
    GRAINS,
    LAST_DATE,
    MAX_AGENTS,
    MAX_IDS,
    Filters,
    Scope,
    valid_timezone,
)
from queries.durations import stage_durations
from queries.engines import get_engine
from queries.errors import (
    Busy,
    DashboardError,
    DataUnavailable,
    InvalidFilter,
    QueryTimeout,
    translated_errors,
)
from queries.extracts import FORMULA_STARTS, export_csv, safe_cell
from queries.figures import (
    chairman_interventions,
    error_rates,
    handoff_efficiency,
    kpi_trend,
    kpis,
    stage_rates,
)
from queries.health import cell_rows, heatmap_cells, venture_stage_health
from queries.low_confidence import default_threshold
from queries.outbox import (
    Claim,
    MailRule,
    MailSubscription,
    Outcome,
    Transition,
    claim,
    done,
    mail_rules,
    mail_subscriptions,
    sender_lock,
    transition,
)
from queries.rows import count_rows, metric_rows
from queries.sign_in_state import (
    SessionUser,
    ThrottlePolicy,
    export_link_create,
    export_link_open,
    identity_link,
    identity_user,
    plausible_secret,
    session_end,
    session_end_user,
    session_get,
    sign_in_failed,
    sign_in_succeeded,
    sign_in_wait,
    ticket_issue,
    ticket_redeem,
)
from queries.subscriptions import (
    EVERY,
    Subscription,
    my_subscriptions,
    request_message,
    subscribe,
    unsubscribe,
)
from queries.users import user_exists, user_id_for_email, verify_password
from queries.zones import rollup_zone

__all__ = [
    # ---- data reads for pages ----------------------------------------------------------------
    # What a page hands over: who asks and which companies they may see, and what they chose.
    "Filters",
    "Scope",
    "get_engine",
    "scope_for_user",
    # The sidebar's choices and the period the scope's data spans.
    "agents",
    "companies",
    "data_range",
    "rollup_zone",
    "ventures",
    # The figures of the pages.
    "agent_activity",
    "chairman_interventions",
    "error_rates",
    "handoff_efficiency",
    "kpi_trend",
    "kpis",
    "stage_durations",
    "stage_rates",
    "venture_attention",
    # Venture health: the heatmap's cells (all measures; one measure against one reference),
    # the rows behind one, and "What changed".
    "DEFAULT_MIN_ACTIONS",
    "cell_rows",
    "heatmap_cells",
    "venture_changes",
    "venture_stage_health",
    # Raw rows and the CSV extract of them.
    "count_rows",
    "export_csv",
    "metric_rows",
    # The spreadsheet rule of every CSV: the streamed export's and each page's Download CSV.
    "FORMULA_STARTS",
    "safe_cell",
    # The values the sidebar and the URL's filters are checked against, as Filters checks them.
    "AGENT_MATCHES",
    "FIRST_DATE",
    "GRAINS",
    "LAST_DATE",
    "MAX_AGENTS",
    "MAX_IDS",
    "valid_timezone",
    # ---- sign-in and audit, for the web layer --------------------------------------------------
    "user_exists",
    "user_id_for_email",
    "verify_password",
    # Sessions, tickets, export links, throttle and SSO links, shared by every replica (f06).
    "SessionUser",
    "ThrottlePolicy",
    "export_link_create",
    "export_link_open",
    "identity_link",
    "identity_user",
    "plausible_secret",
    "session_end",
    "session_end_user",
    "session_get",
    "sign_in_failed",
    "sign_in_succeeded",
    "sign_in_wait",
    "ticket_issue",
    "ticket_redeem",
    # Export receipts, and the audit of exports (the Export page lists the user's own).
    "EMPTY_SHA256",
    "Action",
    "HashingWriter",
    "Receipt",
    "filters_record",
    "my_exports",
    "now_utc",
    "record_export",
    # ---- email (f08) ----------------------------------------------------------------------------
    # The signed-in user's own subscriptions (under RLS).
    "EVERY",
    "Subscription",
    "my_subscriptions",
    "request_message",
    "subscribe",
    "unsubscribe",
    # The signed-in user's own alert rules (f09, under RLS).
    "COMPARISONS",
    "MEASURES",
    "Rule",
    "add_rule",
    "delete_rule",
    "my_rules",
    # The sender's: every subscription and rule, its election, the record of each message, and
    # the state of each rule.
    "Claim",
    "MailRule",
    "MailSubscription",
    "Outcome",
    "Transition",
    "claim",
    "done",
    "mail_rules",
    "mail_subscriptions",
    "sender_lock",
    "transition",
    # ---- errors: each carries a message for the chairman ---------------------------------------
    "Busy",
    "DashboardError",
    "DataUnavailable",
    "InvalidFilter",
    "QueryTimeout",
    "translated_errors",
    # ---- settings ------------------------------------------------------------------------------
    "data_dir",
    "default_threshold",
    "timezone_name",
]
