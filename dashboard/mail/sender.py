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
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

import queries
from dashboard.mail import digest, images, message, schedule, smtp
from dashboard.web.log_mask import mask_email
from queries import DashboardError, MailSubscription

POLL_S = 30.0
MAX_ATTEMPTS = 6
CLOSED = "Not sent: the account is closed (deleted, banned or not confirmed)."
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """What a round did with one occasion of one subscription."""

    subscription_id: str
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


def message_id(sub: MailSubscription, occasion: str, settings: smtp.SmtpSettings) -> str:
    """The same id for every attempt of one message, so a resend after a crash is recognisable."""
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    return f"<digest.{sub.id}.{re.sub(r'[^0-9A-Za-z]+', '-', occasion).strip('-')}@{domain}>"


def send_round(
    engine: Engine,
    settings: smtp.SmtpSettings,
    now: datetime | None = None,
    *,
    everything: bool = False,
    only: str | None = None,
) -> list[Sent] | None:
    """One round; None when another process is the sender. ``only``: one subscription's id."""
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
        return done


def deliver(
    engine: Engine, settings: smtp.SmtpSettings, sub: MailSubscription, occasion: str, now: datetime
) -> Sent | None:
    """Claim, compose as the recipient, send and record one message; None when it is not this
    round's to send (sent or skipped before, being sent, or its retry not yet due)."""
    claimed = queries.claim(
        engine, "digest", sub.id, sub.user_id, occasion, message_id(sub, occasion, settings)
    )
    if claimed is None:
        return None

    def record(outcome: queries.Outcome, detail: str, retry_s: float | None = None) -> Sent:
        queries.done(engine, claimed, outcome, detail, retry_s)
        return Sent(sub.id, occasion, outcome, detail)

    def retry() -> float | None:
        return smtp.backoff_s(claimed.attempts) if claimed.attempts < MAX_ATTEMPTS else None

    if not sub.account_open or not sub.email:
        return record("skipped", CLOSED)
    try:
        made = digest.compose(engine, sub.user_id, sub.subscription, now)
        if isinstance(made, digest.Refusal):
            return record("skipped", made.reason)
        mail = message.email_message(
            made,
            to=sub.email,
            every=sub.subscription.every,
            message_id=message_id(sub, occasion, settings),
        )
    except (DashboardError, images.ImageError) as error:
        return record("failed", f"Not made: {error}", retry())
    try:
        smtp.send(mail, settings)
    except smtp.DeliveryFailed as error:
        return record("failed", error.reason, None if error.permanent else retry())
    return record("sent", f"Sent to {mask_email(sub.email)}")


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
