"""Keeping the rollups folded: the log of changes moved into them every few seconds.

Writers only append to ``orchdash.rollup_log`` (migration f04); queries add the log to the
rollups, so answers are exact whether or not it is folded. Folding keeps the log short (and the
queries cheap) without putting the work on the writers' path. ``orchdash run`` starts
:func:`fold_every` in a daemon thread when it has the owner's connection (the embedded server,
or ORCHDASH_ADMIN_DATABASE_URL); writers fold themselves only as a safety net. The agent
rollup's appended entries are merged in the same round.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from queries import sqlfiles

FOLD_EVERY_S = 10.0
_log = logging.getLogger(__name__)


def fold(engine: Engine) -> int:
    """Fold the log now (an owner's engine), then merge the agent rollup's appended entries
    (migration f04); how many changes were folded (0 if another fold was under way)."""
    with engine.begin() as conn:
        folded = int(conn.execute(sqlfiles.load("rollup_fold")).scalar() or 0)
    with engine.begin() as conn:
        conn.execute(sqlfiles.load("agent_merge"))
    return folded


def fold_every(engine: Engine, seconds: float, stop: threading.Event) -> None:
    """Fold every ``seconds`` until ``stop`` is set; a failure is logged and retried."""
    while not stop.wait(seconds):
        try:
            fold(engine)
        except Exception:  # the next round retries; queries stay exact meanwhile
            _log.exception("folding the rollup log failed")


def start(engine: Engine, seconds: float = FOLD_EVERY_S) -> threading.Event:
    """:func:`fold_every` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(
        target=fold_every, args=(engine, seconds, stop), name="orchdash-fold", daemon=True
    ).start()
    return stop
