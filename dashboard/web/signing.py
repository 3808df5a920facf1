"""The app's signing secret and the itsdangerous serializers built on it.

The secret is ORCHDASH_SECRET_KEY when set; otherwise a random one generated on first use and kept
in the data folder (``secret_key``, mode 600), so that cookies and export links survive a restart
of the app on the same machine. Every use signs with its own salt, so a value signed for one
purpose (a session cookie) is never accepted for another (an export link).
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from pathlib import Path

from itsdangerous import URLSafeTimedSerializer

from queries import data_dir

SECRET_FILE = "secret_key"
MIN_SECRET_CHARS = 32


def _secret_file() -> Path:
    return data_dir() / SECRET_FILE


def _read_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a private file, then linked into place: of two processes starting at
        # once, one link wins and both read the same complete secret.
        secret = secrets.token_urlsafe(48)
        temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text(encoding="ascii").strip()


@cache
def secret_key() -> str:
    """ORCHDASH_SECRET_KEY, else the data folder's generated secret."""
    configured = os.environ.get("ORCHDASH_SECRET_KEY", "").strip()
    secret = configured or _read_or_create(_secret_file())
    if len(secret) < MIN_SECRET_CHARS:
        raise RuntimeError(f"ORCHDASH_SECRET_KEY must have at least {MIN_SECRET_CHARS} characters.")
    return secret


def serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt=salt)
