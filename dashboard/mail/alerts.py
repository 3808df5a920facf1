"""Alerts: each rule evaluated as its owner at that moment, and the message sent once when it
starts to hold and once when it stops ("back to normal").

A rule's value is read through the same query functions, scope and filters as a page: the error
rate, handoff efficiency and chairman interventions of its window (the KPI tiles' figures), the
longest median among the stages in its scope (Stage durations' exact p50), or the highest "What
changed" score among its ventures. A window is the last N days up to today in the rule's zone,
as the Period presets count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from html import escape
from typing import Any

from sqlalchemy import Engine

import queries
from dashboard.charts import format as fmt
from dashboard.mail import digest
from dashboard.ui import filter_state, url_state
from queries import Filters, Rule, Scope

EVALUATE_EVERY_S = 300


@dataclass(frozen=True)
class Measure:
    label: str
    unit: str
    page: str  # where its figures are, for the link


MEASURES = {
    "error_rate": Measure("Error rate", "%", "error-rates"),
    "handoff_efficiency": Measure("Handoff efficiency", "%", "handoff-efficiency"),
    "median_stage_duration": Measure("Median stage duration", "minutes", "stage-durations"),
    "interventions": Measure("Chairman interventions", "interventions", "chairman-interventions"),
    "change_score": Measure('"What changed" score', "z", "venture-health"),
}


@dataclass(frozen=True)
class Evaluation:
    rule: Rule
    value: float | None  # in the measure's unit; None when the window has nothing to measure
    rows: int  # the rows behind it
    where: str  # the stage or venture the value is of, when it is one of several
    filters: Filters
    company_names: tuple[str, ...]
    link: str

    @property
    def holds(self) -> bool:
        if self.value is None:
            return False
        if self.rule.comparison == "above":
            return self.value > self.rule.threshold
        return self.value < self.rule.threshold


def shown(measure: str, value: float | None) -> str:
    """A value or threshold in the measure's unit, for people."""
    if value is None:
        return fmt.NO_VALUE
    unit = MEASURES[measure].unit
    if unit == "%":
        return fmt.percent(value)
    if unit == "minutes":
        return fmt.duration(value * 60)
    if unit == "z":
        return f"{value:,.2f}"
    return fmt.number(value)


def evaluate(
    engine: Engine, user_id: str, rule: Rule, now: datetime
) -> Evaluation | digest.Refusal:
    """The rule's value now, as its owner sees the data."""
    seen = digest.recipient_view(engine, user_id, rule.query, rule.tz, now)
    if isinstance(seen, digest.Refusal):
        return seen
    end = seen.today
    f = filter_state.to_filters(seen.selection, end - timedelta(days=rule.window_days - 1), end)
    value, where = _value(engine, seen.scope, rule.measure, f)
    query = url_state.to_query(filter_state.to_selection(f), f.start, f.end)
    query["tz"] = [f.tz]
    return Evaluation(
        rule=rule,
        value=value,
        rows=queries.count_rows(engine, seen.scope, f),
        where=where,
        filters=f,
        company_names=seen.names(f),
        link=digest.view_link(MEASURES[rule.measure].page, query),
    )


def _value(engine: Engine, scope: Scope, measure: str, f: Filters) -> tuple[float | None, str]:
    """The rule's value in its unit, and the stage or venture it is of (for the two measures that
    are the largest of several)."""
    if measure == "median_stage_duration":
        stages = queries.stage_durations(engine, scope, f)
        stages = stages[stages["rows"] > 0].dropna(subset=["p50_s"])
        if stages.empty:
            return None, ""
        top: Any = stages.iloc[int(stages["p50_s"].to_numpy().argmax())]
        return float(top["p50_s"]) / 60, f"stage {int(top['stage_id'])}"
    if measure == "change_score":
        changes = queries.venture_changes(engine, scope, f).dropna(subset=["score"])
        if changes.empty:
            return None, ""
        top = changes.iloc[int(changes["score"].to_numpy().argmax())]
        return float(top["score"]), f"{top['venture']} ({top['company']})"
    kpis = queries.kpis(engine, scope, f)
    raw: Any = kpis[measure].iloc[0] if not kpis.empty else None
    if fmt.is_missing(raw):
        return None, ""
    return float(raw) * (100 if measure == "error_rate" else 1), ""


def headline(evaluation: Evaluation, holding: bool) -> str:
    rule = evaluation.rule
    label = MEASURES[rule.measure].label
    of = f" ({evaluation.where})" if evaluation.where else ""
    value = shown(rule.measure, evaluation.value)
    limit = f"{rule.comparison} {shown(rule.measure, rule.threshold)}"
    if holding:
        return f"Alert: {label}{of} is {value}, {limit}"
    return f"Back to normal: {label}{of} is {value} (the alert is for {limit})"


def email_message(
    evaluation: Evaluation, *, holding: bool, to: str, message_id: str
) -> EmailMessage:
    """The notification: the value, the threshold, the rows behind it, and a link to the view."""
    rule, f = evaluation.rule, evaluation.filters
    title = headline(evaluation, holding)
    lines = [
        title,
        f"Last {rule.window_days} days: {fmt.period(f.start, f.end)} · time zone {f.tz}",
        f"Companies: {', '.join(evaluation.company_names) or 'none'}",
        f"Value: {shown(rule.measure, evaluation.value)}; threshold: {rule.comparison} "
        f"{shown(rule.measure, rule.threshold)}; rows behind it: {fmt.number(evaluation.rows)}",
        f"Open the view: {evaluation.link}",
    ]
    message = EmailMessage()
    message["Subject"] = title
    message["To"] = to
    message["Message-ID"] = message_id
    message.set_content("\n".join(lines) + "\n")
    items = "".join(f"<p>{escape(line)}</p>" for line in lines[1:4])
    message.add_alternative(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title></head><body><h1>{escape(title)}</h1>{items}"
        f'<p><a href="{escape(evaluation.link)}">Open this view in the dashboard</a></p>'
        "</body></html>",
        subtype="html",
    )
    return message
