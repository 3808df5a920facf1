"""Sign-in throttling per email: after a few failures, a lock that doubles with each further one.

Kept in this process's memory (one app process serves the dashboard): a restart forgets it, which
an attacker cannot trigger. Unknown emails are throttled exactly like known ones, so the lock does
not tell which accounts exist. An email's record is forgotten ``forget_seconds`` after its last
failure or at a successful sign-in; the table is bounded by dropping the stalest records first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from dashboard.web.sessions import Clock

FREE_FAILURES = 5
FIRST_LOCK_SECONDS = 30.0
MAX_LOCK_SECONDS = 15 * 60.0
FORGET_SECONDS = 60 * 60.0
MAX_EMAILS = 50_000


@dataclass
class _Record:
    failures: int
    last_failure: float
    locked_until: float


class Throttle:
    def __init__(
        self,
        *,
        free_failures: int = FREE_FAILURES,
        first_lock_seconds: float = FIRST_LOCK_SECONDS,
        max_lock_seconds: float = MAX_LOCK_SECONDS,
        forget_seconds: float = FORGET_SECONDS,
        max_emails: int = MAX_EMAILS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.first_lock_seconds = first_lock_seconds
        self.max_lock_seconds = max_lock_seconds
        self.forget_seconds = forget_seconds
        self.max_emails = max_emails
        self._clock = clock
        self._lock = threading.Lock()
        self._records: OrderedDict[str, _Record] = OrderedDict()

    @staticmethod
    def key(email: str) -> str:
        return email.strip().lower()

    def retry_after(self, email: str) -> float:
        """Seconds until this email may try again; 0 when it may try now."""
        with self._lock:
            record = self._records.get(self.key(email))
            if record is None:
                return 0.0
            now = self._clock()
            if now - record.last_failure >= self.forget_seconds:
                del self._records[self.key(email)]
                return 0.0
            return max(0.0, record.locked_until - now)

    def failure(self, email: str) -> float:
        """Count a failed attempt; returns the lock it starts, in seconds (0 if none)."""
        with self._lock:
            key, now = self.key(email), self._clock()
            record = self._records.pop(key, None)
            if record is None or now - record.last_failure >= self.forget_seconds:
                record = _Record(failures=0, last_failure=now, locked_until=now)
            record.failures += 1
            record.last_failure = now
            excess = record.failures - self.free_failures
            lock = (
                min(self.first_lock_seconds * 2 ** min(excess - 1, 32), self.max_lock_seconds)
                if excess > 0
                else 0.0
            )
            record.locked_until = now + lock
            self._records[key] = record  # most recent last
            while len(self._records) > self.max_emails:
                self._records.popitem(last=False)
            return lock

    def success(self, email: str) -> None:
        with self._lock:
            self._records.pop(self.key(email), None)
