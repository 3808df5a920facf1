"""Delivery of a built ``EmailMessage`` over SMTP, configured by one URL, and the retry schedule.

``ORCHDASH_SMTP_URL`` says where and how to connect (read when called, never at import):

=========================================  =============================================  =====
URL                                        connection                                     port
=========================================  =============================================  =====
``smtp://[user:password@]host[:port]``     plain text, never upgraded                     25
``smtp+starttls://[user:password@]host``   plain, then STARTTLS, required (no fallback)   587
``smtps://[user:password@]host[:port]``    TLS from the first byte (implicit TLS)         465
=========================================  =============================================  =====

``user`` and ``password`` are percent-decoded and sent with AUTH (PLAIN or LOGIN, whichever the
server offers). Certificates are checked against the system's trust store, or only against the
PEM file ``ORCHDASH_SMTP_CA_FILE`` when that is set (a private CA, the tests' own certificate).
``ORCHDASH_MAIL_FROM`` is the From of messages that have none (``orchdash@localhost``) and
``ORCHDASH_SMTP_TIMEOUT_S`` the socket timeout in seconds (20). Unset or empty URL: email is not
configured (:func:`configured` is False, :meth:`SmtpSettings.from_env` gives None).

:func:`send` raises :class:`DeliveryFailed` for every failure, ``permanent`` when resending the
same message cannot help (a 5xx refusal, a certificate or configuration error), else transient
(connection refused, timeout, 4xx), to be retried after :func:`backoff_s`. Neither its text, nor
any error of this module, nor ``repr(SmtpSettings)`` holds the password.
"""

from __future__ import annotations

import logging
import math
import os
import smtplib
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from dashboard.web.log_mask import mask_email

_log = logging.getLogger(__name__)

URL_ENV = "ORCHDASH_SMTP_URL"
FROM_ENV = "ORCHDASH_MAIL_FROM"
TIMEOUT_ENV = "ORCHDASH_SMTP_TIMEOUT_S"
CA_FILE_ENV = "ORCHDASH_SMTP_CA_FILE"

DEFAULT_MAIL_FROM = "orchdash@localhost"
DEFAULT_TIMEOUT_S = 20.0

BACKOFF_FIRST_S = 60.0
BACKOFF_MAX_S = 3600.0

Security = Literal["plain", "starttls", "tls"]

_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
_SCHEME_HINT = "use smtp://, smtp+starttls:// or smtps://"


class InvalidSmtpSettings(ValueError):
    """The SMTP settings cannot be used as they are; the message names the setting at fault."""


class InvalidSmtpUrl(InvalidSmtpSettings):
    """``ORCHDASH_SMTP_URL`` cannot be parsed; the message says which part, never the password."""


class DeliveryFailed(Exception):
    """The message was not accepted: ``reason`` for people, ``permanent`` for the retry loop.

    ``code`` is the server's reply code when there was one.
    """

    def __init__(self, reason: str, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code

    def __repr__(self) -> str:
        return f"DeliveryFailed({self.reason!r}, permanent={self.permanent}, code={self.code})"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to deliver; ``password`` is left out of ``repr`` so logs cannot show it."""

    host: str
    port: int
    security: Security = "plain"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mail_from: str = DEFAULT_MAIL_FROM
    timeout_s: float = DEFAULT_TIMEOUT_S
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.security not in ("plain", "starttls", "tls"):
            raise InvalidSmtpSettings(f"unknown security {self.security!r}")
        if not self.host:
            raise InvalidSmtpSettings("missing host")
        if not 0 < self.port < 65536:
            raise InvalidSmtpSettings("port must be a number from 1 to 65535")
        if (self.username is None) != (self.password is None):
            raise InvalidSmtpSettings("a user name and a password go together")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise InvalidSmtpSettings(f"{TIMEOUT_ENV} must be a number of seconds above 0")
        if "@" not in parseaddr(self.mail_from)[1]:
            raise InvalidSmtpSettings(f"{FROM_ENV} is not an email address: {self.mail_from!r}")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        mail_from: str = DEFAULT_MAIL_FROM,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ca_file: Path | None = None,
    ) -> SmtpSettings:
        """Parse ``smtp[s|+starttls]://[user:password@]host[:port]``; raise InvalidSmtpUrl."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if not scheme:
            raise InvalidSmtpUrl(f"{URL_ENV} has no scheme: {_SCHEME_HINT}")
        if scheme not in _SCHEMES:
            # Safe to show: the scheme ends at the URL's first ':', before any password.
            raise InvalidSmtpUrl(f"{URL_ENV} has an unknown scheme {scheme!r}: {_SCHEME_HINT}")
        security, default_port = _SCHEMES[scheme]
        # Checked before the host and port: an unencoded '/', '?' or '#' in a password ends the
        # host part early, and this is the hint that finds it.
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise InvalidSmtpUrl(
                f"{URL_ENV} has a path, query or fragment after the host; a '/', '?' or '#' "
                "in the user name or password must be percent-encoded (%2F, %3F, %23)"
            )
        if not parts.hostname:
            raise InvalidSmtpUrl(f"{URL_ENV} is missing the host: {scheme}://host[:port]")
        # Never show the port as written: a malformed URL can put part of the password there.
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is None:
            port = default_port
        if not 0 < port < 65536:
            raise InvalidSmtpUrl(f"{URL_ENV} has a bad port: a number from 1 to 65535")
        username = None if parts.username is None else unquote(parts.username)
        password = None if parts.password is None else unquote(parts.password)
        if username is not None and password is None:
            raise InvalidSmtpUrl(f"{URL_ENV} has a user name but no password: user:password@")
        if password is not None and not username:
            raise InvalidSmtpUrl(f"{URL_ENV} has a password but no user name: user:password@")
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=username,
            password=password,
            mail_from=mail_from,
            timeout_s=timeout_s,
            ca_file=ca_file,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings of the environment (or ``environ``); None when email is not configured."""
        env = os.environ if environ is None else environ
        url = env.get(URL_ENV, "").strip()
        if not url:
            return None
        mail_from = env.get(FROM_ENV, "").strip() or DEFAULT_MAIL_FROM
        timeout_text = env.get(TIMEOUT_ENV, "").strip()
        try:
            timeout_s = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT_S
        except ValueError:
            raise InvalidSmtpSettings(
                f"{TIMEOUT_ENV} must be a number of seconds above 0, not {timeout_text!r}"
            ) from None
        ca_text = env.get(CA_FILE_ENV, "").strip()
        ca_file = Path(ca_text) if ca_text else None
        if ca_file is not None and not ca_file.is_file():
            raise InvalidSmtpSettings(f"{CA_FILE_ENV} is not a file: {ca_text}")
        return cls.from_url(url, mail_from=mail_from, timeout_s=timeout_s, ca_file=ca_file)

    def ssl_context(self) -> ssl.SSLContext:
        """Hostname-checking client context: the system's trust store, or only ``ca_file``."""
        if self.ca_file is None:
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def address(self) -> str:
        """``host:port`` as the errors and the log show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def configured() -> bool:
    """Whether ``ORCHDASH_SMTP_URL`` is set (not whether it is valid or the server answers)."""
    return bool(os.environ.get(URL_ENV, "").strip())


def backoff_s(attempt: int) -> float:
    """The wait before retry ``attempt`` (1, 2, ...): 60 s, doubling, at most one hour."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, not {attempt}")
    # The exponent is capped first so that a huge attempt number costs nothing.
    doublings = min(attempt - 1, math.ceil(math.log2(BACKOFF_MAX_S / BACKOFF_FIRST_S)))
    return min(BACKOFF_FIRST_S * 2**doublings, BACKOFF_MAX_S)


def send(message: EmailMessage, settings: SmtpSettings | None = None) -> str:
    """Deliver ``message`` to its To, Cc and Bcc; return its Message-ID.

    Missing From (``settings.mail_from``), Message-ID and Date headers are added to ``message``
    itself, so a retry of the same object keeps the same Message-ID. Raises DeliveryFailed.
    Recipients refused while others were accepted are logged, not raised: the message has been
    delivered, and resending it would deliver it twice to the others.
    """
    if settings is None:
        try:
            settings = SmtpSettings.from_env()
        except InvalidSmtpSettings as exc:
            raise DeliveryFailed(str(exc), permanent=True) from None
        if settings is None:
            raise DeliveryFailed(f"email is not configured: {URL_ENV} is not set", permanent=True)
    _complete_headers(message, settings)
    message_id = str(message["Message-ID"])
    recipients = [
        address
        for _, address in getaddresses(
            [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
        )
        if address
    ]
    if not recipients:
        raise DeliveryFailed("the message has no recipient (To, Cc or Bcc)", permanent=True)
    try:
        context = settings.ssl_context() if settings.security != "plain" else None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(
            f"cannot load the certificates of {CA_FILE_ENV}: {exc}", permanent=True
        ) from None
    try:
        refused = _deliver(message, settings, context)
    except (smtplib.SMTPException, OSError) as exc:
        # `from None`: the reason is scrubbed of the password, the original exception is not,
        # and a logged traceback would print it.
        raise _failure(exc, settings) from None
    if refused:
        _log.warning(
            "%s: %s refused %s",
            message_id,
            settings.address,
            ", ".join(f"{mask_email(a)} ({code})" for a, (code, _) in refused.items()),
        )
    _log.info(
        "sent %s via %s to %s",
        message_id,
        settings.address,
        ", ".join(mask_email(a) for a in recipients if a not in refused),
    )
    return message_id


def _complete_headers(message: EmailMessage, settings: SmtpSettings) -> None:
    if message["From"] is None:
        message["From"] = settings.mail_from
    if message["Message-ID"] is None:
        domain = parseaddr(str(message["From"]))[1].rpartition("@")[2]
        # make_msgid would otherwise ask the resolver for this machine's name, which can hang.
        if not domain or not domain.isascii():
            domain = "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
    if message["Date"] is None:
        message["Date"] = format_datetime(datetime.now(UTC))


def _deliver(
    message: EmailMessage, settings: SmtpSettings, context: ssl.SSLContext | None
) -> dict[str, tuple[int, bytes]]:
    client: smtplib.SMTP
    if settings.security == "tls":
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    try:
        if settings.security == "starttls":
            # Raises when the server does not offer STARTTLS: never a silent plain-text fallback.
            client.starttls(context=context)
        if settings.username is not None and settings.password is not None:
            client.login(settings.username, settings.password)
        refused = client.send_message(message)
    except BaseException:
        client.close()
        raise
    # The message is accepted: a failing QUIT must not turn it into a failure, hence a resend.
    with suppress(smtplib.SMTPException, OSError):
        client.quit()
    return refused


def _failure(exc: BaseException, settings: SmtpSettings) -> DeliveryFailed:
    where = settings.address
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        listed = "; ".join(
            f"{mask_email(address)}: {code} {_text(reply)}"
            for address, (code, reply) in exc.recipients.items()
        )
        # One 4xx among them is worth a retry; all 5xx will be refused again.
        permanent = bool(codes) and all(code >= 500 for code in codes)
        reason = f"{where} refused every recipient: {listed}"
        return DeliveryFailed(_scrub(reason, settings), permanent, max(codes, default=None))
    if isinstance(exc, smtplib.SMTPResponseException):
        if isinstance(exc, smtplib.SMTPSenderRefused):
            what = f"refused the sender {exc.sender}"
        elif isinstance(exc, smtplib.SMTPDataError):
            what = "refused the message"
        elif isinstance(exc, smtplib.SMTPAuthenticationError):
            what = f"refused the login of {settings.username}"
        elif isinstance(exc, smtplib.SMTPConnectError):
            what = "refused the connection"
        else:
            what = "answered"
        reason = f"{where} {what}: {exc.smtp_code} {_text(exc.smtp_error)}"
        return DeliveryFailed(_scrub(reason, settings), exc.smtp_code >= 500, exc.smtp_code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a timeout while awaiting a reply as a disconnection, caused by it.
        if isinstance(exc.__context__, TimeoutError):
            return _failure(exc.__context__, settings)
        return DeliveryFailed(_scrub(f"{where} closed the connection: {exc}", settings), False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # STARTTLS or AUTH not offered: a setting to change, not a moment to wait for.
        return DeliveryFailed(_scrub(f"{where}: {exc}", settings), True)
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryFailed(_scrub(f"{where}: {exc}", settings), True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (
            f"the certificate of {where} is not trusted ({exc.verify_message}); "
            f"set {CA_FILE_ENV} for a private CA"
        )
        return DeliveryFailed(_scrub(reason, settings), True)
    if isinstance(exc, TimeoutError):
        return DeliveryFailed(f"{where} did not answer within {settings.timeout_s:g} s", False)
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryFailed(f"{where} refused the connection (nothing listening?)", False)
    kind = "TLS error" if isinstance(exc, ssl.SSLError) else type(exc).__name__
    return DeliveryFailed(_scrub(f"cannot reach {where}: {kind}: {exc}", settings), False)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _scrub(text: str, settings: SmtpSettings) -> str:
    # A server may echo what it was sent; the password never leaves this module in a message.
    if settings.password:
        for form in {settings.password, quote(settings.password, safe="")}:
            text = text.replace(form, "***")
    return text
