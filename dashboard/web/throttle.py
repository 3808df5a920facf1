"""Sign-in throttling per client address and per account, shared by every replica (in PostgreSQL).

Three keys count each failed attempt, each with waits that double past its free failures:

- the account from this client (``pair``): the guesser's own address is slowed down to one try
  every 15 minutes, while the owner, from any other address, is not;
- the client, across every email it tries (``client``): one address cannot try many accounts;
- the account, from every address (``account``): many addresses guessing one password are slowed
  too, but only by at most :data:`ACCOUNT_MAX_SECONDS`, so that a stranger's wrong attempts can
  delay the owner by seconds and never lock them out.

Past :data:`GLOBAL_CEILING` failures in one minute, of everyone, every attempt waits for the next
minute: a flood from many addresses cannot keep the server busy checking passwords. The client
address is the one uvicorn (Streamlit's server) reports: behind a proxy on this machine, the
``X-Forwarded-For`` address; for a proxy elsewhere, list it in ``FORWARDED_ALLOW_IPS``. Unknown
emails are counted exactly like known ones, so a wait does not tell which accounts exist. A
successful sign-in forgets the account's failures (not the client's), and every key is forgotten
:data:`FORGET_SECONDS` after its last failure.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from queries import ThrottlePolicy, sign_in_failed, sign_in_succeeded, sign_in_wait

PAIR = ThrottlePolicy(free=5, first_seconds=30.0, max_seconds=15 * 60.0)
CLIENT = ThrottlePolicy(free=20, first_seconds=30.0, max_seconds=15 * 60.0)
ACCOUNT_MAX_SECONDS = 30.0
ACCOUNT = ThrottlePolicy(free=10, first_seconds=2.0, max_seconds=ACCOUNT_MAX_SECONDS)
GLOBAL_CEILING = 600
FORGET_SECONDS = 60 * 60.0


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()


def client_key(client: str | None) -> str:
    return "client:" + (client or "local")


def pair_key(email: str, client: str | None) -> str:
    return f"pair:{client or 'local'}:{email.strip().lower()}"


class Throttle:
    """The throttle over one database (its engine looked up at each call, as the app's is)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        pair: ThrottlePolicy = PAIR,
        client: ThrottlePolicy = CLIENT,
        account: ThrottlePolicy = ACCOUNT,
        ceiling: int = GLOBAL_CEILING,
        forget_seconds: float = FORGET_SECONDS,
    ) -> None:
        self._engine = engine
        self.policies = {"pair": pair, "client": client, "account": account}
        self.ceiling = ceiling
        self.forget_seconds = forget_seconds

    def _keys(self, email: str, client: str | None) -> dict[str, ThrottlePolicy]:
        return {
            pair_key(email, client): self.policies["pair"],
            client_key(client): self.policies["client"],
            account_key(email): self.policies["account"],
        }

    def retry_after(self, email: str, client: str | None) -> float:
        """Seconds until this email may be tried from this client; 0 when it may try now."""
        return sign_in_wait(self._engine(), list(self._keys(email, client)), self.ceiling)

    def failure(self, email: str, client: str | None) -> float:
        """Count a failed attempt; returns the wait it starts, in seconds (0 if none)."""
        return sign_in_failed(self._engine(), self._keys(email, client), self.forget_seconds)

    def success(self, email: str, client: str | None) -> None:
        sign_in_succeeded(self._engine(), [pair_key(email, client), account_key(email)])
