"""Closing a billing period: idempotent, resumable, one closer at a time.

``close_period(session_factory, bundle, stream, period_key, as_of=...)``:

1. **prepare** (one transaction, ``SELECT ... FOR UPDATE [SKIP LOCKED]`` on the period row):
   ``open`` -> sync + assign the period's items -> ``closing``. A ``closed`` period returns
   ``already_closed`` (nothing done); a ``closing`` one is resumed.
2. **lock** (PostgreSQL): a second session takes ``SELECT ... FOR UPDATE SKIP LOCKED`` on the
   period row and holds it until the end, so a concurrent closer - whose own prepare or lock
   skips the locked row - exits with ``being_closed`` (``wait=True``: it waits instead, then
   finds the period closed). A crashed closer's lock dies with its connection; the period stays
   ``closing`` and the next run resumes it.
3. **issue**: the stream's documents, committed per party; each is claimed by its business key
   first, so a resumed run (or a racing one on SQLite, where the database lock serialises the
   writers instead of row locks) issues only what is missing - one set of invoices.
4. **finish**: ``closed``, in the lock session (or the work session on SQLite). A period with a
   document that could not be made stays ``closing`` (exception ``PERIOD_DOCUMENT_FAILED``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine.store.db import is_postgres
from engine.streams import msp as msp_stream
from engine.streams import subscription as subscription_stream
from engine.streams.billable import count_late
from engine.streams.periods import (
    ALREADY_CLOSED, BEING_CLOSED, CLOSED, INCOMPLETE, PeriodError, PeriodResult, check_as_of, finish, lock_period,
    prepare,
)

STREAMS = ("subscription", "msp")


def close_period(session_factory: Callable[[], Session], bundle: Any, stream: str, period_key: str, *,
                 as_of: date, source: Any = None, wait: bool = False, now: datetime | None = None) -> PeriodResult:
    """Close ``stream``'s period ``period_key``; see the module doc. ``source`` (the FactSource)
    is needed by the subscription stream to find customers without sessions."""
    if stream not in STREAMS:
        raise PeriodError(f"periods are closed for {' and '.join(STREAMS)}, not {stream!r}")
    check_as_of(period_key, as_of)
    result = PeriodResult(stream, period_key)
    with session_factory() as session:
        row = prepare(session, stream, period_key, result, skip_locked=not wait, now=now)
        if row is None:
            result.outcome = BEING_CLOSED
            return result
        if row.status == CLOSED:
            result.outcome = ALREADY_CLOSED
            return result
        lock: Session | None = None
        if is_postgres(session):
            lock = session_factory()
            held = lock_period(lock, stream, period_key, skip_locked=not wait)
            if held is None or held.status == CLOSED:
                lock.rollback()
                lock.close()
                result.outcome = BEING_CLOSED if held is None else ALREADY_CLOSED
                return result
        try:
            result.late = count_late(session, stream, period_key)
            if stream == "msp":
                msp_stream.issue_period_documents(session, bundle, period_key, result, as_of=as_of, now=now)
            else:
                subscription_stream.issue_cycle_documents(session, bundle, period_key, result, as_of=as_of,
                                                          source=source, now=now)
            if result.failures:
                result.outcome = INCOMPLETE
            else:
                closer = lock if lock is not None else session
                finish(closer, stream, period_key, now=now)
                closer.commit()
        finally:
            if lock is not None:
                lock.rollback()
                lock.close()
    return result
