"""Whom an identity provider's sign-in signs in: an account linked to the provider's subject,
or, the first time, the account of a verified email from an allowed issuer.

The ID token's claims (``st.user``) decide, and only these rules:

- ``iss`` must be one of the allowed issuers: ``allowed_issuers`` in ``[auth]`` of secrets.toml,
  else the one issuer that ``server_metadata_url`` names (OpenID Connect discovery: the issuer
  followed by ``/.well-known/openid-configuration``). A multi-tenant endpoint (Microsoft Entra's
  ``common``) names no real issuer, so its tenants must be listed to be let in at all.
- An (issuer, subject) already linked to an account signs in that account (if still open),
  whatever the email says now.
- Otherwise ``email_verified`` must be exactly true (a missing claim is not a yes: a
  multi-tenant Entra app sends none, and its email can be set by anyone), the email must be that
  of exactly one open account, and that account must not be linked to another subject of the
  same issuer. The link is then made, so later sign-ins go by (issuer, subject) alone.
- ``sub`` alone never identifies anybody.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from queries import identity_link, identity_user, user_id_for_email

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def allowed_issuers(auth: Mapping[str, Any]) -> frozenset[str]:
    """The issuers whose identities may sign in, from the ``[auth]`` section."""
    configured = auth.get("allowed_issuers")
    if isinstance(configured, str):
        return frozenset({configured})
    if isinstance(configured, list | tuple):
        return frozenset(str(issuer) for issuer in configured if issuer)
    metadata = str(auth.get("server_metadata_url") or "")
    if metadata.endswith(DISCOVERY_SUFFIX):
        return frozenset({metadata.removesuffix(DISCOVERY_SUFFIX)})
    return frozenset()


def account_for(engine: Engine, claims: Mapping[str, Any], allowed: frozenset[str]) -> str | None:
    """The user id these claims sign in, else None."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not (isinstance(issuer, str) and isinstance(subject, str) and issuer and subject):
        return None
    if issuer not in allowed:
        return None
    linked = identity_user(engine, issuer, subject)
    if linked is not None:
        return linked
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return None
    user_id = user_id_for_email(engine, email)
    if user_id is None or not identity_link(engine, issuer, subject, user_id):
        return None
    return user_id
