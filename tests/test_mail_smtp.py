"""dashboard/mail/smtp.py against a real SMTP server (tests/smtp_server.py): no mocks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from smtp_server import (  # noqa: F401 (smtp_server_fixture is the fixture `smtp_server`)
    REFUSE_RECIPIENT,
    TRY_LATER,
    SmtpServer,
    smtp_server_fixture,
)

from dashboard.mail import smtp
from dashboard.mail.smtp import DeliveryFailed, InvalidSmtpSettings, InvalidSmtpUrl, SmtpSettings

USER = "digest@example.com"
PASSWORD = "s3cr:t/p@ss w%rd"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (smtp.URL_ENV, smtp.FROM_ENV, smtp.TIMEOUT_ENV, smtp.CA_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def _message(to: str = "chair@example.com", subject: str = "Weekly digest") -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Error rate 2.1 %, down from 3.4 %.\n")
    return message


def _use(
    monkeypatch: pytest.MonkeyPatch, server: SmtpServer, url: str | None = None, **env: str
) -> None:
    monkeypatch.setenv(smtp.URL_ENV, url or server.url())
    if server.ca_file is not None:
        monkeypatch.setenv(smtp.CA_FILE_ENV, str(server.ca_file))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _assert_no_password(failure: DeliveryFailed | InvalidSmtpSettings, password: str) -> None:
    for text in (str(failure), repr(failure), getattr(failure, "reason", "")):
        assert password not in text
    # Nothing chained either: a logged traceback prints the whole chain.
    assert failure.__cause__ is None and failure.__suppress_context__


# --- delivery ---------------------------------------------------------------------------------


def test_a_plain_send_arrives_with_its_headers_and_the_returned_message_id(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, smtp_server, **{smtp.FROM_ENV: "Orchdash <digests@orchdash.example>"})
    message = _message(to="Chair <chair@example.com>")

    message_id = smtp.send(message)

    (received,) = smtp_server.wait_for(1)
    assert received.mail_from == "digests@orchdash.example"
    assert received.rcpt_tos == ("chair@example.com",)
    assert not received.tls and received.login is None
    got = received.message
    assert got["From"] == "Orchdash <digests@orchdash.example>"
    assert got["To"] == "Chair <chair@example.com>"
    assert got["Subject"] == "Weekly digest"
    assert got["Message-ID"] == message_id == message["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@orchdash.example>")
    assert abs(time.time() - parsedate_to_datetime(got["Date"]).timestamp()) < 60
    assert got.get_content() == "Error rate 2.1 %, down from 3.4 %.\n"


def test_headers_already_set_are_kept_and_bcc_is_delivered_but_not_shown(
    smtp_server: SmtpServer,
) -> None:
    message = _message()
    message["From"] = "Board <board@example.org>"
    message["Message-ID"] = "<fixed-id@example.org>"
    message["Date"] = "Mon, 04 May 2026 08:00:00 +0000"
    message["Bcc"] = "secretary@example.org"
    settings = SmtpSettings.from_url(smtp_server.url())

    assert smtp.send(message, settings) == "<fixed-id@example.org>"

    (received,) = smtp_server.wait_for(1)
    assert received.mail_from == "board@example.org"
    assert set(received.rcpt_tos) == {"chair@example.com", "secretary@example.org"}
    assert received.message["Date"] == "Mon, 04 May 2026 08:00:00 +0000"
    assert received.message["Bcc"] is None


def test_the_default_from_is_orchdash_at_localhost(smtp_server: SmtpServer) -> None:
    message_id = smtp.send(_message(), SmtpSettings.from_url(smtp_server.url()))

    (received,) = smtp_server.wait_for(1)
    assert received.message["From"] == "orchdash@localhost"
    assert message_id.endswith("@localhost>")


@pytest.mark.parametrize(
    "smtp_server", [{"tls": "implicit", "user": USER, "password": PASSWORD}], indirect=True
)
def test_smtps_with_auth_trusts_the_self_signed_certificate_of_the_ca_file(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = smtp_server.url()
    assert url.startswith("smtps://digest%40example.com:") and PASSWORD not in url
    _use(monkeypatch, smtp_server)

    message_id = smtp.send(_message())

    (received,) = smtp_server.wait_for(1)
    assert received.tls and received.login == USER
    assert received.message["Message-ID"] == message_id


@pytest.mark.parametrize(
    "smtp_server", [{"tls": "starttls", "user": USER, "password": PASSWORD}], indirect=True
)
def test_smtp_starttls_upgrades_before_auth_and_mail(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server refuses MAIL (and AUTH) before STARTTLS: arriving at all proves the upgrade.
    assert smtp_server.url().startswith("smtp+starttls://")
    _use(monkeypatch, smtp_server)

    smtp.send(_message())

    (received,) = smtp_server.wait_for(1)
    assert received.tls and received.login == USER


@pytest.mark.parametrize("smtp_server", [{"user": USER, "password": PASSWORD}], indirect=True)
def test_plain_smtp_logs_in_without_tls_when_the_server_allows_it(
    smtp_server: SmtpServer,
) -> None:
    smtp.send(_message(), SmtpSettings.from_url(smtp_server.url()))

    (received,) = smtp_server.wait_for(1)
    assert not received.tls and received.login == USER


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
    smtp_server: SmtpServer,
) -> None:
    settings = SmtpSettings.from_url(smtp_server.url("smtp+starttls"))

    with pytest.raises(DeliveryFailed, match="STARTTLS") as failed:
        smtp.send(_message(), settings)

    assert failed.value.permanent
    assert smtp_server.messages == []


@pytest.mark.parametrize("smtp_server", [{"tls": "implicit"}], indirect=True)
def test_an_untrusted_certificate_is_a_permanent_failure_that_names_the_ca_setting(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system's trust store does not know the test's self-signed certificate.
    monkeypatch.setenv(smtp.URL_ENV, smtp_server.url())

    with pytest.raises(DeliveryFailed, match=smtp.CA_FILE_ENV) as failed:
        smtp.send(_message())

    assert failed.value.permanent
    assert smtp_server.messages == []


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "smtp_server", [{"tls": "implicit", "user": USER, "password": PASSWORD}], indirect=True
)
def test_a_wrong_password_fails_without_showing_it(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-Passw0rd"
    _use(monkeypatch, smtp_server, url=smtp_server.url(password=wrong))

    with pytest.raises(DeliveryFailed) as failed:
        smtp.send(_message())

    assert failed.value.permanent and failed.value.code == 535
    assert USER in failed.value.reason
    _assert_no_password(failed.value, wrong)
    assert smtp_server.messages == []


@pytest.mark.parametrize("smtp_server", [{"user": USER, "password": PASSWORD}], indirect=True)
def test_no_credentials_where_the_server_requires_them_is_a_permanent_failure(
    smtp_server: SmtpServer,
) -> None:
    with pytest.raises(DeliveryFailed, match="Authentication required") as failed:
        smtp.send(_message(), SmtpSettings.from_url(f"smtp://127.0.0.1:{smtp_server.port}"))

    assert failed.value.permanent and failed.value.code == 530
    assert smtp_server.messages == []


def test_nothing_listening_is_a_quick_transient_failure() -> None:
    # Bound but not listening: refused at once, and no one else can take the port meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", timeout_s=2)
        started = time.monotonic()

        with pytest.raises(DeliveryFailed, match="refused the connection") as failed:
            smtp.send(_message(), settings)

    assert time.monotonic() - started < 2
    assert not failed.value.permanent


def test_a_server_that_never_greets_times_out_as_a_transient_failure() -> None:
    # Listening (the kernel completes the handshake) but never accepting: no 220 ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", timeout_s=0.3)
        started = time.monotonic()

        with pytest.raises(DeliveryFailed, match=r"did not answer within 0\.3 s") as failed:
            smtp.send(_message(), settings)

    assert time.monotonic() - started < 3
    assert not failed.value.permanent


@pytest.mark.parametrize("smtp_server", [{"rcpt_reply": REFUSE_RECIPIENT}], indirect=True)
def test_a_550_refusal_of_the_recipient_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryFailed, match="No such user") as failed:
        smtp.send(_message(), SmtpSettings.from_url(smtp_server.url()))

    assert failed.value.permanent and failed.value.code == 550
    assert "chair@example.com" not in failed.value.reason  # masked, as in the log
    assert smtp_server.messages == []


@pytest.mark.parametrize("smtp_server", [{"data_reply": TRY_LATER}], indirect=True)
def test_a_451_for_data_is_transient_and_a_retry_of_the_same_message_keeps_its_id(
    smtp_server: SmtpServer,
) -> None:
    settings = SmtpSettings.from_url(smtp_server.url())
    message = _message()

    with pytest.raises(DeliveryFailed, match="Try again later") as failed:
        smtp.send(message, settings)
    assert not failed.value.permanent and failed.value.code == 451
    first_id = message["Message-ID"]

    smtp_server.data_reply = None
    assert smtp.send(message, settings) == first_id
    (received,) = smtp_server.wait_for(1)
    assert received.message["Message-ID"] == first_id


def test_a_message_without_recipients_is_refused_before_connecting() -> None:
    message = EmailMessage()
    message["Subject"] = "nobody"
    settings = SmtpSettings.from_url("smtp://127.0.0.1:1")

    with pytest.raises(DeliveryFailed, match="no recipient") as failed:
        smtp.send(message, settings)

    assert failed.value.permanent


def test_sending_when_not_configured_is_a_permanent_failure() -> None:
    with pytest.raises(DeliveryFailed, match="not configured") as failed:
        smtp.send(_message())

    assert failed.value.permanent


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unconfigured_means_no_settings(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is not None:
        monkeypatch.setenv(smtp.URL_ENV, value)

    assert SmtpSettings.from_env() is None
    assert not smtp.configured()


def test_settings_come_from_the_environment_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("")
    monkeypatch.setenv(
        smtp.URL_ENV, "smtp+starttls://me%40corp.example:" + "p%3Ass%2F@Mail.Example"
    )
    monkeypatch.setenv(smtp.FROM_ENV, "reports@corp.example")
    monkeypatch.setenv(smtp.TIMEOUT_ENV, "5.5")
    monkeypatch.setenv(smtp.CA_FILE_ENV, str(ca_file))

    settings = SmtpSettings.from_env()

    assert smtp.configured()
    assert settings == SmtpSettings(
        host="mail.example",
        port=587,
        security="starttls",
        username="me@corp.example",
        password="p:ss/",
        mail_from="reports@corp.example",
        timeout_s=5.5,
        ca_file=ca_file,
    )
    assert "p:ss/" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("smtp://relay", "plain", 25),
        ("smtp+starttls://relay", "starttls", 587),
        ("smtps://relay", "tls", 465),
        ("SMTPS://relay:2465/", "tls", 2465),
        ("smtp://[::1]:2525", "plain", 2525),
    ],
)
def test_schemes_and_default_ports(url: str, security: str, port: int) -> None:
    settings = SmtpSettings.from_url(url)

    assert (settings.security, settings.port) == (security, port)
    assert settings.username is None and settings.password is None


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://user:" + "hunter2@relay", "unknown scheme 'http'"),
        ("relay.example.com", "no scheme"),
        ("smtp://user:" + "hunter2@", "missing the host"),
        ("smtp://user:" + "hunter2@relay:99999", "bad port"),
        ("smtp://user:" + "hunter2@relay:0", "bad port"),
        ("smtp://user:" + "hunter2@relay:25x", "bad port"),
        ("smtp://user:hun/ter2@relay", "percent-encoded"),
        ("smtp://user:" + "hun#ter2@relay", "percent-encoded"),
        ("smtp://relay?tls=1", "query"),
        ("smtp://user@relay", "no password"),
        ("smtp://:" + "hunter2@relay", "no user name"),
    ],
)
def test_a_bad_url_says_what_is_wrong_but_not_the_password(url: str, what: str) -> None:
    with pytest.raises(InvalidSmtpUrl, match=what) as invalid:
        SmtpSettings.from_url(url)

    assert "hunter2" not in str(invalid.value) and "ter2" not in str(invalid.value)


def test_a_bad_url_from_the_environment_raises_and_send_turns_it_into_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(smtp.URL_ENV, "smtp://user:" + "hunter2@relay:http")

    with pytest.raises(InvalidSmtpUrl, match=smtp.URL_ENV):
        SmtpSettings.from_env()
    with pytest.raises(DeliveryFailed, match="bad port") as failed:
        smtp.send(_message())

    assert failed.value.permanent
    _assert_no_password(failed.value, "hunter2")


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        (smtp.TIMEOUT_ENV, "soon", smtp.TIMEOUT_ENV),
        (smtp.TIMEOUT_ENV, "0", smtp.TIMEOUT_ENV),
        (smtp.TIMEOUT_ENV, "nan", smtp.TIMEOUT_ENV),
        (smtp.CA_FILE_ENV, "/nonexistent/ca.pem", smtp.CA_FILE_ENV),
        (smtp.FROM_ENV, "not an address", smtp.FROM_ENV),
    ],
)
def test_bad_other_settings_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, what: str
) -> None:
    monkeypatch.setenv(smtp.URL_ENV, "smtp://relay")
    monkeypatch.setenv(name, value)

    with pytest.raises(InvalidSmtpSettings, match=what):
        SmtpSettings.from_env()


# --- retry schedule ---------------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_and_stops_at_an_hour() -> None:
    waits = [smtp.backoff_s(attempt) for attempt in range(1, 10)]

    assert waits[:6] == [60, 120, 240, 480, 960, 1920]
    assert waits[6:] == [3600, 3600, 3600]
    assert smtp.backoff_s(10**9) == 3600


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError):
        smtp.backoff_s(0)


# --- the helper itself ------------------------------------------------------------------------


def test_the_helper_waits_for_messages_and_gives_up_with_a_clear_error(
    smtp_server: SmtpServer,
) -> None:
    with pytest.raises(AssertionError, match="0 of 1 messages"):
        smtp_server.wait_for(1, timeout_s=0.1)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[SmtpServer, SmtpServer]]:
    with SmtpServer(tmp_path / "a") as a, SmtpServer(tmp_path / "b", tls="implicit") as b:
        yield a, b


def test_servers_get_their_own_ports(two_servers: tuple[SmtpServer, SmtpServer]) -> None:
    a, b = two_servers

    assert a.port != b.port and 0 not in (a.port, b.port)
    assert b.ca_file is not None and b.ca_file.is_file()
