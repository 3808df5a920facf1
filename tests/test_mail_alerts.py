"""Alerts below the browser (issue #18, item 2): rules of the test world's users, evaluated as
their owner by the sender's rounds, notified through a real SMTP server (aiosmtpd).

A rule notifies once when it starts to hold and once when it stops, never on every evaluation;
each notification says the value, the threshold, the rows behind it and a link to the view; no
notification holds a company outside its recipient's active ones, for every kind of measure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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
from smtp_server import SmtpServer
from sqlalchemy import Engine, text

import queries
from dashboard.charts import format as fmt
from dashboard.mail import alerts, sender, smtp
from queries import InvalidFilter, Rule

NOW = datetime(2026, 3, 21, 9, 30, tzinfo=UTC)  # the world's rows end on 20 March 2026
LATER = timedelta(minutes=6)  # past the evaluation interval


def rule(measure: str, comparison: str, threshold: float, query: str = "", days: int = 30) -> Rule:
    return Rule(measure, query, comparison, threshold, days, "UTC")


def error_rate_of(world: mw.World, label: str, days: int) -> float:
    end = NOW.date()
    rows = mw.selected(world, world.users[label], end - timedelta(days=days - 1), end, "UTC")
    return mw.weighted(rows, "error_rate") * 100


def test_an_alert_fires_once_and_recovers_once(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    value = error_rate_of(world, "multi", 30)
    made = queries.add_rule(
        world_app, scope(world, "multi"), rule("error_rate", "above", value - 0.5)
    )

    (fired,) = sender.alert_round(world_app, settings, NOW)
    assert fired.outcome == "sent" and fired.occasion.startswith("holds ")
    (received,) = server.wait_for(1)
    message = received.message
    assert str(message["Subject"]) == (
        f"Alert: Error rate is {fmt.percent(value)}, above {fmt.percent(value - 0.5)}"
    )
    body = str(message.get_body(("plain",)).get_content())
    end = NOW.date()
    rows = len(mw.selected(world, world.users["multi"], end - timedelta(days=29), end, "UTC"))
    assert f"rows behind it: {fmt.number(rows)}" in body
    assert "Last 30 days: 20 Feb 2026 – 21 Mar 2026 · time zone UTC" in body
    link = next(line for line in body.splitlines() if line.startswith("Open the view: "))
    url = urlsplit(link.removeprefix("Open the view: "))
    assert url.path == "/error-rates"
    assert parse_qs(url.query)["from"] == ["2026-02-20"]

    # Evaluated again (too soon, then after the interval): it still holds, nothing is sent.
    assert sender.alert_round(world_app, settings, NOW + timedelta(minutes=1)) == []
    assert sender.alert_round(world_app, settings, NOW + LATER) == []
    assert len(server.messages) == 1
    state = queries.my_rules(world_app, scope(world, "multi")).iloc[0]
    assert state["holding"] is True and state["value"] == pytest.approx(value)
    assert state["row_count"] == rows and state["last_status"] == "sent"

    # The threshold moves above the value: back to normal, once.
    with owner.begin() as conn:
        conn.execute(
            text("UPDATE orchdash.alert_rules SET threshold = :t WHERE id = :id"),
            {"t": value + 0.5, "id": made},
        )
    (recovered,) = sender.alert_round(world_app, settings, NOW + 2 * LATER)
    assert recovered.outcome == "sent" and recovered.occasion.startswith("normal ")
    assert sender.alert_round(world_app, settings, NOW + 3 * LATER) == []
    assert [str(m.message["Subject"]).split(":")[0].strip() for m in server.wait_for(2)] == [
        "Alert", "Back to normal"
    ]  # fmt: skip


def test_a_rule_that_never_holds_sends_nothing(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    queries.add_rule(world_app, scope(world, "multi"), rule("error_rate", "above", 99.0))
    assert sender.alert_round(world_app, settings, NOW) == []
    assert sender.alert_round(world_app, settings, NOW + LATER) == []
    state = queries.my_rules(world_app, scope(world, "multi")).iloc[0]
    assert state["holding"] is False and server.messages == []


@pytest.mark.parametrize("measure", list(alerts.MEASURES))
def test_no_alert_holds_a_company_outside_the_recipients_active_ones(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
    measure: str,
) -> None:
    # 30 days: "What changed" scores only ventures with activity in the previous period too.
    days = 30 if measure == "change_score" else 90
    queries.add_rule(world_app, scope(world, "multi"), rule(measure, "above", -1e9, days=days))
    (sent,) = sender.alert_round(world_app, settings, NOW)
    assert sent.outcome == "sent", sent
    message = server.wait_for(1)[0].message
    active = world.active(world.users["multi"])
    allowed = {world.company_names[c] for c in active}
    theirs = set(world.ventures[world.ventures["company_id"].isin(active)]["venture"])
    others = set(world.company_names.values()) - allowed
    other_ventures = set(world.ventures[~world.ventures["company_id"].isin(active)]["venture"])
    parts = [str(p.get_content()) for p in message.walk() if p.get_content_maintype() == "text"]
    for name in others | (other_ventures - theirs):
        assert all(name not in part for part in parts), name
    if measure == "change_score":
        state = queries.my_rules(world_app, scope(world, "multi")).iloc[0]
        venture = state["detail"].rsplit(" (", 1)[0]
        assert venture in theirs


def test_revoked_access_evaluates_nothing_and_sends_nothing(
    world_app: Engine,
    owner: Engine,
    world: mw.World,
    server: SmtpServer,
    settings: smtp.SmtpSettings,
) -> None:
    initech = world.companies["initech"]
    queries.add_rule(
        world_app,
        scope(world, "revocable"),
        rule("interventions", "above", -1, f"company={initech}"),
    )
    with revoked(owner, world.users["revocable"]):
        assert sender.alert_round(world_app, settings, NOW) == []
    assert server.messages == []
    assert queries.my_rules(world_app, scope(world, "revocable")).iloc[0]["holding"] is None


def test_each_measure_reads_the_pages_figures(
    world_app: Engine, owner: Engine, world: mw.World
) -> None:
    multi = world.users["multi"]
    kpis = None
    for measure in alerts.MEASURES:
        days = 30 if measure == "change_score" else 90
        evaluation = alerts.evaluate(world_app, multi, rule(measure, "above", 0, days=days), NOW)
        assert isinstance(evaluation, alerts.Evaluation)
        f = evaluation.filters
        assert (f.end - f.start).days == days - 1 and f.end == date(2026, 3, 21)
        s = scope(world, "multi")
        if measure == "median_stage_duration":
            stages = queries.stage_durations(world_app, s, f)
            assert evaluation.value == pytest.approx(stages["p50_s"].max() / 60)
            top = int(stages.loc[stages["p50_s"].idxmax(), "stage_id"])
            assert evaluation.where == f"stage {top}"
        elif measure == "change_score":
            scores = queries.venture_changes(world_app, s, f)["score"].dropna()
            assert len(scores) > 1 and evaluation.value == pytest.approx(scores.max())
        else:
            kpis = queries.kpis(world_app, s, f) if kpis is None else kpis
            raw = float(kpis[measure].iloc[0]) * (100 if measure == "error_rate" else 1)
            assert evaluation.value == pytest.approx(raw)
    assert error_rate_of(world, "multi", 90) == pytest.approx(
        alerts.evaluate(world_app, multi, rule("error_rate", "above", 0, days=90), NOW).value  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(
    "change",
    [{"measure": "cost"}, {"comparison": "equal"}, {"threshold": float("nan")},
     {"threshold": True}, {"window_days": 0}, {"window_days": 367}, {"tz": "Nowhere/Else"}],
)  # fmt: skip
def test_a_bad_rule_is_refused_before_sql(change: dict[str, object]) -> None:
    fields = {**rule("error_rate", "above", 1).__dict__, **change}
    with pytest.raises(InvalidFilter):
        Rule(**fields)  # type: ignore[arg-type]
