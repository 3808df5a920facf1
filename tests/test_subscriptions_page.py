"""`Email me this` and the Subscriptions page through AppTest, as a world user of the runtime role.

Without ORCHDASH_SMTP_URL both say that email is not configured and offer nothing to send; with
it, `Email me this` keeps the page, its filters and the sidebar's zone, and the Subscriptions
page lists the user's own, with `Send now` and `Unsubscribe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import metrics_world as mw
import pytest
from mail_world import owner_fixture, scope  # noqa: F401
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import queries
from dashboard.charts import format as fmt
from dashboard.ui import email_me
from dashboard.ui.auth import SESSION_KEY
from dashboard.web import sessions

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
QUERY = {"stage": "3", "from": "2026-01-01", "to": "2026-01-31", "tz": "Europe/Berlin"}


@pytest.fixture
def app_env(world_app_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", world_app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.delenv("ORCHDASH_SMTP_URL", raising=False)


def app_for(world: mw.World, label: str, page: str, query: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[SESSION_KEY] = sessions.store().create(
        world.users[label], f"{label}@world.test"
    )
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(f"app_pages/{page}").run()


def labelled(elements: Any, label: str) -> Any:
    return next(e for e in elements if e.label == label)


def test_without_email_both_say_so_and_offer_nothing(
    app_env: None, owner: Engine, world: mw.World
) -> None:
    at = app_for(world, "multi", "error_rates.py")
    assert not at.exception
    assert email_me.NOT_CONFIGURED in [c.value for c in at.caption]
    assert "Subscribe" not in [b.label for b in at.button]
    at = app_for(world, "multi", "my_subscriptions.py")
    assert [i.value for i in at.info][0] == email_me.NOT_CONFIGURED
    assert "You have no subscriptions yet" in at.info[1].value


def test_email_me_this_keeps_the_page_its_filters_and_zone_then_the_page_lists_it(
    app_env: None,
    owner: Engine,
    world: mw.World,
    world_app: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHDASH_SMTP_URL", "smtp://127.0.0.1:9")
    at = app_for(world, "multi", "error_rates.py", QUERY)
    assert not at.exception
    labelled(at.radio, "How often").set_value("Weekly (Mondays)")
    labelled(at.selectbox, "At").set_value(7)
    labelled(at.button, "Subscribe").click().run()
    assert not at.exception and not at.error
    said = "Subscribed: Error rates, every Monday at 07:00 (Europe/Berlin)."
    assert at.success[0].value.startswith(fmt.markdown_text(said))

    (sub,) = queries.my_subscriptions(world_app, scope(world, "multi")).itertuples()
    assert (sub.page, sub.every, sub.hour, sub.tz, sub.period) == (
        "error-rates", "week", 7, "Europe/Berlin", "Custom range"
    )  # fmt: skip
    assert parse_qs(sub.query) == {
        "stage": ["3"], "from": ["2026-01-01"], "to": ["2026-01-31"], "grain": ["day"],
        "tz": ["Europe/Berlin"],
    }  # fmt: skip
    # Another user's Subscriptions page does not list it.
    other = app_for(world, "single", "my_subscriptions.py")
    assert "You have no subscriptions yet" in other.info[0].value

    at = app_for(world, "multi", "my_subscriptions.py")
    assert not at.exception
    assert any("**Error rates**, every Monday at 07:00" in m.value for m in at.markdown)
    labelled(at.button, "Send now").click().run()
    at.run()
    (asked,) = queries.my_subscriptions(world_app, scope(world, "multi")).itertuples()
    assert asked.requested_at is not None
    assert "Asked for now" in " ".join(c.value for c in at.caption)
    labelled(at.button, "Unsubscribe").click().run()
    assert queries.my_subscriptions(world_app, scope(world, "multi")).empty
    assert "You have no subscriptions yet" in " ".join(i.value for i in at.info)


def test_the_alerts_page_adds_a_rule_in_the_sidebars_scope_lists_and_deletes_it(
    app_env: None, owner: Engine, world: mw.World, world_app: Engine
) -> None:
    at = app_for(world, "multi", "my_alerts.py", QUERY)
    assert not at.exception
    assert at.info[0].value == email_me.NOT_CONFIGURED
    assert "No alert rules yet" in at.info[1].value
    labelled(at.selectbox, "Measure").set_value("Handoff efficiency")
    labelled(at.radio, "Alert when it is").set_value("below")
    labelled(at.number_input, "Threshold").set_value(90.0)
    labelled(at.number_input, "Last days").set_value(14)
    labelled(at.button, "Add rule").click().run()
    assert not at.exception and not at.error
    (rule,) = queries.my_rules(world_app, scope(world, "multi")).itertuples()
    assert (rule.measure, rule.comparison, rule.threshold, rule.window_days, rule.tz) == (
        "handoff_efficiency", "below", 90.0, 14, "Europe/Berlin"
    )  # fmt: skip
    assert parse_qs(rule.query) == {"stage": ["3"]}
    assert any("**Handoff efficiency** below 90" in m.value for m in at.markdown)
    assert "Not checked yet" in " ".join(c.value for c in at.caption)
    # Another user sees none of it.
    assert "No alert rules yet" in app_for(world, "single", "my_alerts.py").info[1].value
    labelled(at.button, "Delete").click().run()
    at.run()
    assert queries.my_rules(world_app, scope(world, "multi")).empty
