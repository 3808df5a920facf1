"""A real SMTP server for tests: aiosmtpd on a free 127.0.0.1 port, keeping what it receives.

``with SmtpServer(tmp_path, ...) as server:`` starts it (in a thread of aiosmtpd's Controller)
and stops it at the end. The fixture ``smtp_server`` gives a plain one, or one with the options
of an indirect parametrization (``@pytest.mark.parametrize("smtp_server", [{"tls": "implicit"}],
indirect=True)``). A test module gets it by importing ``smtp_server`` or, to keep ruff quiet
about tests that take it as an argument, ``smtp_server_fixture`` (with ``# noqa: F401``): the
same fixture. Options:

- ``user``/``password``: AUTH (PLAIN, LOGIN) with these credentials is required before MAIL
  (530 otherwise), over plain text and implicit TLS too.
- ``tls="implicit"``: TLS from the first byte (smtps://); ``tls="starttls"``: STARTTLS offered
  and required before MAIL (smtp+starttls://). The certificate is self-signed, for 127.0.0.1 and
  localhost, written to ``folder``; ``server.ca_file`` is the PEM a client must trust.
- ``rcpt_reply`` / ``data_reply``: a reply such as ``REFUSE_RECIPIENT`` (550) for every RCPT, or
  ``TRY_LATER`` (451) for DATA, instead of accepting. Both are plain attributes, so a test can
  change them while the server runs (fail first, then accept).

``server.messages`` holds every accepted message as a :class:`Received`; ``server.wait_for(n)``
waits until n have arrived. ``server.url(...)`` builds the matching ORCHDASH_SMTP_URL.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
REFUSE_RECIPIENT = "550 5.1.1 No such user here"
TRY_LATER = "451 4.3.0 Try again later"

Tls = Literal["none", "implicit", "starttls"]


@dataclass(frozen=True)
class Received:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    login: str | None
    tls: bool


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem) in ``folder``.

    It is its own CA (CA:TRUE, key identifiers) so that OpenSSL's strict verification, the
    default of newer Pythons, accepts it as a trust anchor.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orchdash test SMTP")])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Enforced here rather than by aiosmtpd's auth_required, which warns (UserWarning) on
        # every connection when it is combined with auth_require_tls=False (see SmtpServer).
        if self._server.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self._server.rcpt_reply
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._server.data_reply
        if reply is not None:
            return reply
        raw = cast(bytes, envelope.original_content or envelope.content or b"")
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        transport = server.transport
        self._server._keep(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                # Line ends as a mail client shows them; `raw` keeps the CRLFs of the wire.
                message=cast(
                    EmailMessage,
                    email.message_from_bytes(
                        raw.replace(b"\r\n", b"\n"), policy=email.policy.default
                    ),
                ),
                login=login.decode() if login is not None else None,
                # session.ssl is set after STARTTLS only; the transport knows implicit TLS too.
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller on port 0: the port the system chose is read back before aiosmtpd uses it.

    Controller's start() connects to ``self.port`` once to initialise the server, so with port 0
    it would connect to port 0; reading the bound port first avoids the race of a port that is
    probed free, released, then taken by someone else.
    """

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """A running aiosmtpd on 127.0.0.1 (see the module's docstring); a context manager."""

    def __init__(
        self,
        folder: Path,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: Tls = "none",
        rcpt_reply: str | None = None,
        data_reply: str | None = None,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.user, self.password, self.tls = user, password, tls
        self.rcpt_reply, self.data_reply = rcpt_reply, data_reply
        self.ca_file: Path | None = None
        self._messages: list[Received] = []
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if tls != "none":
            cert_file, key_file = make_certificate(folder)
            self.ca_file = cert_file
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_file, key_file)
            if tls == "implicit":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
        if user is not None:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd counts only STARTTLS as encryption: with implicit TLS it would neither
            # offer AUTH nor accept it (538) unless told that plain text is fine.
            kwargs["auth_require_tls"] = tls == "starttls"
        self._controller = _Controller(
            _Handler(self),
            hostname=HOST,
            port=0,
            # Else aiosmtpd asks the resolver for this machine's name (socket.getfqdn).
            server_hostname="localhost",
            **kwargs,
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def url(
        self,
        scheme: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> str:
        """The ORCHDASH_SMTP_URL of this server: its own scheme and credentials unless given."""
        if scheme is None:
            scheme = {"none": "smtp", "implicit": "smtps", "starttls": "smtp+starttls"}[self.tls]
        user = self.user if user is None else user
        password = self.password if password is None else password
        credentials = ""
        if user is not None:
            credentials = f"{quote(user, safe='')}:{quote(password or '', safe='')}@"
        return f"{scheme}://{credentials}{HOST}:{self.port}"

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """The messages once at least ``count`` have arrived; AssertionError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(messages)} of {count} messages arrived within {timeout_s} s"
                )
            time.sleep(0.02)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _keep(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.user is not None
            and self.password is not None
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmtpServer]:
    """A running SmtpServer: plain, or with the options of an indirect parametrization."""
    options: dict[str, Any] = getattr(request, "param", None) or {}
    with SmtpServer(tmp_path / "smtp", **options) as server:
        yield server


# Either name brings the fixture `smtp_server` into a test module. Importing this one makes
# ruff report every test that takes `smtp_server` as redefining the import (F811); importing
# `smtp_server_fixture`, with a noqa for F401, does not.
smtp_server = smtp_server_fixture
