"""Emails as the log shows them (dashboard/web/log_mask.py): never what someone typed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.web.log_mask import MAX_EMAIL_CHARS, mask_email


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane.doe@example.com", "j***@e***.com"),
        ("  Ann@Example.ORG ", "A***@E***.org"),
        ("chairman@demo.local", "c***@d***.local"),
        ("x@mail.example.co.uk", "x***@m***.uk"),
    ],
)
def test_an_email_keeps_its_first_letters_and_top_level_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    "value",
    [
        "",
        "no-at-sign",
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane@example",
        "jane@.com",
        "jane@example.",
        "@example.com",
        "a@b@example.com",
        "jane@example.c0m",
        "jane@example.abcdefghijklmnopqrstu",
        "jane@example.com\nforged log line",
        "x" * MAX_EMAIL_CHARS + "@example.com",
    ],
)
def test_anything_else_is_shown_by_its_length_only(value: str) -> None:
    assert mask_email(value) == f"<not an email, {len(value)} characters>"


def test_a_password_typed_as_email_shows_nothing_of_it() -> None:
    password = "Zq9!vK#4pW&m-Hj$7"
    masked = mask_email(password)
    assert masked == f"<not an email, {len(password)} characters>"
    pieces = {password[i : i + 3] for i in range(len(password) - 2)}
    assert not [piece for piece in pieces if piece in masked]


@given(st.text(max_size=80).filter(lambda s: "@" not in s))
def test_without_an_at_sign_only_the_length_counts(value: str) -> None:
    assert mask_email(value) == mask_email("x" * len(value))


@given(st.text(max_size=80))
def test_the_mask_is_one_line_and_shows_at_most_two_letters_before_the_domain(value: str) -> None:
    masked = mask_email(value)
    assert "\n" not in masked and "\r" not in masked
    if not masked.startswith("<not an email"):
        local, _, rest = masked.partition("@")
        assert len(local) == 4 and rest[1:5] == "***."
