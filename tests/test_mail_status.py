"""What the Subscriptions page says of a subscription's latest message (dashboard/mail/status)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from dashboard.mail import status

AT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 08:00 in Berlin


def row(**fields: Any) -> SimpleNamespace:
    base = {
        "last_status": None,
        "last_detail": None,
        "last_at": pd.NaT,
        "last_attempts": None,
        "next_attempt_at": pd.NaT,
        "tz": "Europe/Berlin",
    }
    return SimpleNamespace(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"last_status": "sent", "last_at": AT}, ("success", "Last digest sent 7 Dec 2026 08:00.")),
        (
            {"last_status": "skipped", "last_detail": "Not sent: closed.", "last_at": AT},
            ("warning", "Not sent: closed. (7 Dec 2026 08:00)"),
        ),
        (
            {
                "last_status": "failed",
                "last_detail": "451 try later",
                "last_at": AT,
                "last_attempts": 2,
                "next_attempt_at": AT.replace(hour=9),
            },
            (
                "warning",
                "Sending failed 7 Dec 2026 08:00: 451 try later (2 attempts; next try 7 Dec 2026"
                " 10:00).",
            ),
        ),
        (
            {"last_status": "failed", "last_detail": "550 no", "last_at": AT, "last_attempts": 1},
            ("warning", "Sending failed 7 Dec 2026 08:00: 550 no (1 attempt; not tried again)."),
        ),
    ],
)
def test_the_latest_message_in_words(fields: dict[str, Any], expected: Any) -> None:
    assert status.last_message(row(**fields)) == expected


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({}, "all your companies"),
        ({"company": ["a"]}, "1 company (from the sidebar)"),
        (
            {"company": ["a", "b"], "venture": ["v"], "stage": ["3", "4"]},
            "2 companies, 1 venture, stages 3, 4 (from the sidebar)",
        ),
    ],
)
def test_a_rules_scope_in_words(query: dict[str, list[str]], words: str) -> None:
    assert status.scope_words(query) == words
