"""The sender: what is due, made as its recipient, sent once.

Each round (every ``POLL_S`` under ``orchdash run``; or ``orchdash digest send``) first takes the
advisory lock that elects one sender among replicas and restarts; a process that does not get
it does nothing this round. For every subscription it finds the occasions due now (the latest
slot of its schedule, and a request from its `Send now`), claims each one in
``orchdash.messages`` before anything is sent, so a message is never sent twice, then composes
it as the recipient at that moment and hands it to SMTP. A closed account, or a recipient whose
access no longer covers the subscription, gets nothing, and the record says why. A failed send
is tried again with backoff, up to ``MAX_ATTEMPTS``; a permanent refusal is not.

A thread of our own rather than APScheduler: the schedule lives in the database (each
subscription's hour and zone), so one timer that looks every half minute is all that runs, and
the lock and the record, not a scheduler's job store, keep replicas from doubling a message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import Engine

import queries
from dashboard.mail import alerts, digest, images, message, schedule, smtp
from dashboard.web.log_mask import mask_email
from queries import DashboardError, MailRule, MailSubscription

POLL_S = 30.0
MAX_ATTEMPTS = 6
CLOSED = "Not sent: the account is closed (deleted, banned or not confirmed)."
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """What a round did with one occasion of one subscription."""

    subscription_id: str  # or the alert rule's id
    occasion: str
    outcome: str  # sent | skipped | failed
    detail: str = ""


def occasions(sub: MailSubscription, now: datetime, everything: bool = False) -> list[str]:
    """The occasions of ``sub`` to send at ``now``: its due slot and its pending request, or one
    of its own for ``everything`` (``orchdash digest send --all``)."""
    if everything:
        return [f"all {now.isoformat()}"]
    s = sub.subscription
    slot = schedule.due_slot(s.every, s.hour, s.tz, sub.created_at, now)
    due = [] if slot is None else [slot.occasion]
    if sub.requested_at is not None:
        due.append(f"request {sub.requested_at.isoformat()}")
    return due


def message_id(kind: str, about: str, occasion: str, settings: smtp.SmtpSettings) -> str:
    """The same id for every attempt of one message, so a resend after a crash is recognisable."""
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    return f"<{kind}.{about}.{re.sub(r'[^0-9A-Za-z]+', '-', occasion).strip('-')}@{domain}>"


def send_round(
    engine: Engine,
    settings: smtp.SmtpSettings,
    now: datetime | None = None,
    *,
    everything: bool = False,
    only: str | None = None,
) -> list[Sent] | None:
    """One round of digests and alerts; None when another process is the sender. ``only``: one
    subscription's id (no alerts then)."""
    at = now or datetime.now(UTC)
    with queries.sender_lock(engine) as elected:
        if not elected:
            return None
        done = []
        for sub in queries.mail_subscriptions(engine):
            if only is not None and sub.id != only:
                continue
            for occasion in occasions(sub, at, everything):
                sent = deliver(engine, settings, sub, occasion, at)
                if sent is not None:
                    done.append(sent)
        if only is None:
            done += alert_round(engine, settings, at)
        return done


def deliver(
    engine: Engine, settings: smtp.SmtpSettings, sub: MailSubscription, occasion: str, now: datetime
) -> Sent | None:
    """Claim, compose as the recipient, send and record one digest; None when it is not this
    round's to send (sent or skipped before, being sent, or its retry not yet due)."""
    mid = message_id("digest", sub.id, occasion, settings)
    claimed = queries.claim(engine, "digest", sub.id, sub.user_id, occasion, mid)
    if claimed is None:
        return None

    def build() -> EmailMessage | str:
        if not sub.account_open or not sub.email:
            return CLOSED
        made = digest.compose(engine, sub.user_id, sub.subscription, now)
        if isinstance(made, digest.Refusal):
            return made.reason
        return message.email_message(
            made, to=sub.email, every=sub.subscription.every, message_id=mid
        )

    return _send(engine, settings, claimed, Sent(sub.id, occasion, ""), build, sub.email)


def alert_round(
    engine: Engine, settings: smtp.SmtpSettings, now: datetime, *, evaluate_all: bool = False
) -> list[Sent]:
    """Evaluate each rule whose last evaluation is ``EVALUATE_EVERY_S`` old (every rule with
    ``evaluate_all``) as its owner, record it, and announce once each state a rule entered."""
    done = []
    for rule in queries.mail_rules(engine):
        holding, notify, since = rule.holding, rule.notify, rule.since
        fresh: alerts.Evaluation | digest.Refusal | None = None
        age = None if rule.evaluated_at is None else (now - rule.evaluated_at).total_seconds()
        if rule.account_open and (evaluate_all or age is None or age >= alerts.EVALUATE_EVERY_S):
            fresh = alerts.evaluate(engine, rule.user_id, rule.rule, now)
            if isinstance(fresh, alerts.Evaluation):
                moved = queries.transition(
                    engine,
                    rule.id,
                    holding=fresh.holds,
                    value=fresh.value,
                    rows=fresh.rows,
                    detail=fresh.where,
                    at=now,
                )
                if moved is not None:
                    holding, since, notify = fresh.holds, moved.since, notify or moved.changed
        if notify and holding is not None and since is not None:
            sent = _announce(engine, settings, rule, holding, since, fresh, now)
            if sent is not None:
                done.append(sent)
    return done


def _announce(
    engine: Engine,
    settings: smtp.SmtpSettings,
    rule: MailRule,
    holding: bool,
    since: datetime,
    fresh: alerts.Evaluation | digest.Refusal | None,
    now: datetime,
) -> Sent | None:
    """The message of the state a rule entered at ``since``, once."""
    occasion = f"{'holds' if holding else 'normal'} {since.isoformat()}"
    mid = message_id("alert", rule.id, occasion, settings)
    claimed = queries.claim(engine, "alert", rule.id, rule.user_id, occasion, mid)
    if claimed is None:
        return None

    def build() -> EmailMessage | str:
        if not rule.account_open or not rule.email:
            return CLOSED
        made = fresh or alerts.evaluate(engine, rule.user_id, rule.rule, now)
        if isinstance(made, digest.Refusal):
            return made.reason
        return alerts.email_message(made, holding=holding, to=rule.email, message_id=mid)

    return _send(engine, settings, claimed, Sent(rule.id, occasion, ""), build, rule.email)


def _send(
    engine: Engine,
    settings: smtp.SmtpSettings,
    claimed: queries.Claim,
    about: Sent,
    build: Callable[[], EmailMessage | str],
    email: str | None,
) -> Sent:
    """Make a claimed message (or learn why not), send it, and record what became of it."""

    def record(outcome: queries.Outcome, detail: str, retry_s: float | None = None) -> Sent:
        queries.done(engine, claimed, outcome, detail, retry_s)
        return replace(about, outcome=outcome, detail=detail)

    def retry() -> float | None:
        return smtp.backoff_s(claimed.attempts) if claimed.attempts < MAX_ATTEMPTS else None

    try:
        made = build()
    except (DashboardError, images.ImageError) as error:
        return record("failed", f"Not made: {error}", retry())
    if isinstance(made, str):
        return record("skipped", made)
    try:
        smtp.send(made, settings)
    except smtp.DeliveryFailed as error:
        return record("failed", error.reason, None if error.permanent else retry())
    return record("sent", f"Sent to {mask_email(email or '')}")


def run_every(engine: Engine, seconds: float, stop: threading.Event) -> None:
    """Rounds until ``stop``; a failing round is logged and the next one tries again."""
    while not stop.is_set():
        settings = smtp.SmtpSettings.from_env()
        if settings is not None:
            try:
                for sent in send_round(engine, settings) or ():
                    _log.info("digest %s %s: %s", sent.subscription_id, sent.occasion, sent.outcome)
            except Exception:
                _log.exception("the digest round failed; the next one tries again")
        stop.wait(seconds)


def poll_s() -> float:
    """Seconds between rounds: ORCHDASH_MAIL_POLL_S, else :data:`POLL_S`."""
    return float(os.environ.get("ORCHDASH_MAIL_POLL_S") or POLL_S)


def start(engine: Engine, seconds: float | None = None) -> threading.Event | None:
    """:func:`run_every` in a daemon thread, when email is configured; set the event to stop."""
    if not smtp.configured():
        _log.info("email is not configured (ORCHDASH_SMTP_URL): no digest is scheduled")
        return None
    stop = threading.Event()
    threading.Thread(
        target=run_every,
        args=(engine, poll_s() if seconds is None else seconds, stop),
        name="orchdash-mail",
        daemon=True,
    ).start()
    return stop
