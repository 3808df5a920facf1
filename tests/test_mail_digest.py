"""Digests end to end below the browser: subscriptions of the test world's users, the sender's
rounds as the runtime role, a real SMTP server (aiosmtpd), and each message read back with
Python's ``email`` package: its parts, its PNG images, its CSV attachments, its links.

A message is computed as its recipient when it is sent: it never holds a company outside the
recipient's active ones (for every page), a revoked company or a closed account means nothing is
sent and the subscription says why, and no round sends a message twice.
"""

from __future__ import annotations

import csv
import io
import struct
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import metrics_world as mw
import pytest
from mail_world import (  # noqa: F401 (fixtures)
    owner_fixture,
    revoked,
    scope,
    server_fixture,
    settings_fixture,
)
from smtp_server import TRY_LATER, SmtpServer
from sqlalchemy import Engine, text

import queries
from dashboard.mail import digest, sender, smtp
from dashboard.ui import pages
from queries import Subscription

# The world's rows run from 20 December 2025 to 20 March 2026.
NOW = datetime(2026, 3, 21, 9, 30, tzinfo=UTC)
QUARTER = "Last 90 days"


def subscribe(
    engine: Engine, world: mw.World, label: str, page: str, query: str = "", every: str = "week"
) -> str:
    sub = Subscription(page, query, QUARTER, every, 8, "Europe/Berlin")
    return queries.subscribe(engine, scope(world, label), sub)


def attachments(message: EmailMessage) -> dict[str, list[dict[str, str]]]:
    found = {}
    for part in message.iter_attachments():
        if part.get_content_type() == "text/csv":
            raw = part.get_payload(decode=True)
            assert isinstance(raw, bytes)
            found[str(part.get_filename())] = list(
                csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
            )
    return found


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_a_weekly_digest_arrives_once_with_its_charts_tables_and_link(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    sub = subscribe(world_app, world, "multi", "error-rates", "stage=3&stage=4&grain=week")
    with owner.begin() as conn:
        conn.execute(text("UPDATE orchdash.subscriptions SET created_at = '2026-01-01'"))
    done = sender.send_round(world_app, settings, NOW)
    # Saturday 21 March: the week's slot was Monday 16 March, 08:00 in Berlin.
    assert done == [sender.Sent(sub, "2026-03-16", "sent", "Sent to m***@w***.test")]
    (received,) = server.wait_for(1)
    message = received.message
    assert received.rcpt_tos == ("multi@world.test",)
    assert message["Subject"] == "Weekly digest: Error rates, 22 Dec 2025 – 21 Mar 2026"
    assert message["Message-ID"].strip() == sender.message_id("digest", sub, "2026-03-16", settings)
    plain = message.get_body(("plain",))
    assert plain is not None and "Key figures" in str(plain.get_content())

    # Two charts inline, each a PNG of the size asked for, referred to by the HTML.
    body = html_of(message)
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        data = image.get_payload(decode=True)
        assert isinstance(data, bytes) and png_size(data) == (720, 400)
        assert f"cid:{str(image['Content-ID']).strip('<>')}" in body

    # The tables attached, formula-safe, and only of the recipient's companies.
    tables = attachments(message)
    assert set(tables) == {
        f"{name}_2025-12-22_2026-03-21.csv"
        for name in (
            "kpis",
            "ventures-attention",
            "what-changed",
            "error-rates-per-venture-by-week",
            "error-rates-per-stage",
        )
    }
    allowed = {world.company_names[c] for c in world.active(world.users["multi"])}
    shown = {
        row["Company"].removeprefix("'") for row in tables["what-changed_2025-12-22_2026-03-21.csv"]
    }
    assert shown and shown <= allowed
    assert any(
        row["Company"].startswith("'=") for row in tables["what-changed_2025-12-22_2026-03-21.csv"]
    )

    # The link opens the same view.
    (link,) = {a for a in body.split('"') if a.startswith("http://")}
    url = urlsplit(link.replace("&amp;", "&"))
    assert url.path == "/error-rates"
    assert parse_qs(url.query) == {
        "stage": ["3", "4"], "grain": ["week"], "from": ["2025-12-22"], "to": ["2026-03-21"],
        "tz": ["Europe/Berlin"],
    }  # fmt: skip

    # Later rounds, a restart, another replica: the same slot is never sent again.
    assert sender.send_round(world_app, settings, NOW) == []
    assert sender.send_round(world_app, settings, datetime(2026, 3, 22, tzinfo=UTC)) == []
    assert len(server.messages) == 1
    last = queries.my_subscriptions(world_app, scope(world, "multi")).iloc[0]
    assert last["last_status"] == "sent"


def test_hostile_names_are_escaped_in_the_html(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    """The hostile user sees a company named like SQL and ventures named like formulas."""
    subscribe(world_app, world, "hostile", "overview")
    assert [s.outcome for s in sender.send_round(world_app, settings, NOW, everything=True)] == [
        "sent"
    ]
    body = html_of(server.wait_for(1)[0].message)
    assert "Robert&#x27;); DROP TABLE companies;" in body
    assert "<script" not in body and "onerror" not in body


@pytest.mark.parametrize("page", [p.path for p in pages.PAGES])
def test_no_message_holds_a_company_outside_the_recipients_active_ones(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
    page: str,
) -> None:
    """multi has active access to three companies and an inactive one to Initech; the world
    has two more. Nothing of the other three appears anywhere in the message."""
    subscribe(world_app, world, "multi", page)
    sent = sender.send_round(world_app, settings, NOW, everything=True)
    assert [s.outcome for s in sent] == ["sent"], sent
    message = server.wait_for(1)[0].message
    allowed = {world.company_names[c] for c in world.active(world.users["multi"])}
    others = set(world.company_names.values()) - allowed
    raw = message.as_string()
    text_parts = [
        str(p.get_content()) for p in message.walk() if p.get_content_maintype() == "text"
    ]
    for name in others:
        assert all(name not in part for part in text_parts), name
    other_ventures = set(
        world.ventures[~world.ventures["company_id"].isin(world.active(world.users["multi"]))][
            "venture"
        ]
    )
    for venture in other_ventures - set(
        world.ventures[world.ventures["company_id"].isin(world.active(world.users["multi"]))][
            "venture"
        ]
    ):
        assert all(venture not in part for part in text_parts), venture
    for table in attachments(message).values():
        for row in table:
            if "Company" in row:
                assert row["Company"].removeprefix("'") in allowed
    assert raw


def test_revoked_access_or_a_closed_account_sends_nothing_and_says_why(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    initech = world.companies["initech"]
    named = subscribe(world_app, world, "revocable", "overview", f"company={initech}")
    closed = subscribe(world_app, world, "single", "overview")
    outside = subscribe(
        world_app, world, "single", "overview", f"company={world.companies['umbrella']}"
    )
    single = world.users["single"]
    ban = "UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = :u"
    try:
        with owner.begin() as conn:
            conn.execute(text(ban), {"u": single})
        with revoked(owner, world.users["revocable"]):
            sent = sender.send_round(world_app, settings, NOW, everything=True)
    finally:
        with owner.begin() as conn:
            conn.execute(
                text("UPDATE auth.users SET banned_until = NULL WHERE id = :u"), {"u": single}
            )
    done = {s.subscription_id: s for s in sent or ()}
    assert {k: v.outcome for k, v in done.items()} == {
        named: "skipped", closed: "skipped", outside: "skipped"
    }  # fmt: skip
    assert done[named].detail == digest.NO_COMPANY
    assert done[closed].detail == sender.CLOSED == done[outside].detail
    assert server.messages == []
    why = queries.my_subscriptions(world_app, scope(world, "revocable")).iloc[0]
    assert (why["last_status"], why["last_detail"]) == ("skipped", digest.NO_COMPANY)
    # Once open again, a subscription naming a company outside the scope is still refused.
    later = NOW.replace(minute=31)
    refused = sender.send_round(world_app, settings, later, everything=True, only=outside)
    assert refused is not None and [(s.outcome, s.detail) for s in refused] == [
        ("skipped", digest.REVOKED)
    ]


def test_a_failed_send_is_retried_with_backoff_then_sent_once(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    sub = subscribe(world_app, world, "multi", "overview", every="day")
    assert queries.request_message(world_app, scope(world, "multi"), sub)
    server.data_reply = TRY_LATER
    (failed,) = sender.send_round(world_app, settings, NOW) or []
    assert failed.outcome == "failed" and "451" in failed.detail
    last = queries.my_subscriptions(world_app, scope(world, "multi")).iloc[0]
    assert last["last_status"] == "failed" and last["next_attempt_at"] > last["last_at"]
    server.data_reply = None
    assert sender.send_round(world_app, settings, NOW) == []  # not due yet
    with owner.begin() as conn:
        conn.execute(text("UPDATE orchdash.messages SET next_attempt_at = now()"))
    (retried,) = sender.send_round(world_app, settings, NOW) or []
    assert retried.outcome == "sent"
    assert len(server.wait_for(1)) == 1
    assert sender.send_round(world_app, settings, NOW) == []


def test_smtp_down_fails_the_send_not_the_round(
    world_app: Engine, owner: Engine, world: mw.World
) -> None:
    subscribe(world_app, world, "multi", "overview")
    down = smtp.SmtpSettings.from_url("smtp://127.0.0.1:9", timeout_s=2)
    (failed,) = sender.send_round(world_app, down, NOW, everything=True) or []
    assert failed.outcome == "failed"


def test_two_senders_at_once_send_each_message_once(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    """Two replicas' rounds at the same moment: the lock elects one, the record keeps the other
    from sending what the first sent, whichever order they run in."""
    for label in ("multi", "single", "hostile"):
        subscribe(world_app, world, label, "overview", every="day")
    with owner.begin() as conn:
        conn.execute(text("UPDATE orchdash.subscriptions SET created_at = '2026-01-01'"))
    start = threading.Barrier(2)
    rounds: list[list[sender.Sent] | None] = []

    def replica() -> None:
        start.wait()
        rounds.append(sender.send_round(world_app, settings, NOW))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then a restart: a new round finds everything sent.
    rounds.append(sender.send_round(world_app, settings, NOW))
    sent = [s for done in rounds for s in done or () if s.outcome == "sent"]
    assert len(sent) == 3 and len(server.wait_for(3)) == 3
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [
        "hostile@world.test", "multi@world.test", "single@world.test"
    ]  # fmt: skip
