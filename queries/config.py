"""Settings read from the environment, in one place, with their defaults."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import platformdirs

APP_ROLE = "orchdash_app"
DATABASE_NAME = "orchdash"


def data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its data between runs."""
    override = os.environ.get("ORCHDASH_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("orchdash"))


def timezone_name() -> str:
    return os.environ.get("ORCHDASH_TIMEZONE", "UTC")


def timezone() -> ZoneInfo:
    return ZoneInfo(timezone_name())


def statement_timeout_ms() -> int:
    return int(os.environ.get("ORCHDASH_STATEMENT_TIMEOUT_MS", "15000"))


def export_timeout_ms() -> int:
    """statement_timeout of a CSV export, which streams far more rows than a chart reads."""
    return int(os.environ.get("ORCHDASH_EXPORT_TIMEOUT_MS", "300000"))
