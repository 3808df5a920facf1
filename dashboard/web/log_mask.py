"""Emails as the log may show them: enough to tell two apart, never what someone typed.

A sign-in form's email field receives passwords too (typed into the wrong field), so a value that
is not a plausible email is shown by its length only, and an email by its first letters and its
top-level domain.
"""

from __future__ import annotations

import string

# RFC 5321's longest path less the angle brackets; its longest local part.
MAX_EMAIL_CHARS = 254
MAX_LOCAL_CHARS = 64
# The longest top-level domains are 18 letters ("travelersinsurance"); a longer last label is
# more likely a typed secret than a real domain, and it would be shown whole.
MAX_TOP_LEVEL_CHARS = 18


def mask_email(value: str) -> str:
    """'jane.doe@example.com' -> 'j***@e***.com'; else '<not an email, N characters>'."""
    address = value.strip()
    local, at, domain = address.partition("@")
    labels = domain.split(".")
    plausible = (
        at == "@"
        and len(address) <= MAX_EMAIL_CHARS
        and 0 < len(local) <= MAX_LOCAL_CHARS
        and "@" not in domain
        and len(labels) >= 2
        and all(labels)
        and _top_level(labels[-1])
        and all(c.isprintable() and not c.isspace() for c in address)
    )
    if not plausible:
        return f"<not an email, {len(value)} characters>"
    return f"{local[0]}***@{domain[0]}***.{labels[-1].lower()}"


def _top_level(label: str) -> bool:
    return 2 <= len(label) <= MAX_TOP_LEVEL_CHARS and all(c in string.ascii_letters for c in label)
