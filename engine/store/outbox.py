"""The transactional outbox: what must reach the outside world, delivered at least once.

A provider call is written here in the same transaction as the state change that caused it, so
neither happens without the other. Workers then ``claim`` due messages - ``SELECT ... FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so any number of workers share the queue without taking the same
row - and lease them (``locked_by``/``locked_until``) for the time it takes to call out; a worker
that dies simply lets its lease run out. Failures back off exponentially and end in ``dead``
after ``max_attempts`` (a human looks at those). ``enqueue`` is idempotent on its key, because
the provider may not be (one-off invoices take no idempotency key there).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.jsonable import to_jsonable
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.models import OutboxMessage

DEFAULT_LEASE = timedelta(minutes=5)
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)
MAX_ATTEMPTS = 10


class LeaseLost(RuntimeError):
    """The message is no longer leased to this worker (its lease ran out and another took it)."""


def enqueue(session: Session, kind: str, payload: Any, idempotency_key: str, *,
            now: datetime | None = None, not_before: datetime | None = None) -> OutboxMessage:
    """Add a message unless one with ``idempotency_key`` exists; returns the stored message."""
    now = now or utcnow()
    insert_ignore(session, OutboxMessage, {
        "kind": kind, "payload": to_jsonable(payload), "idempotency_key": idempotency_key, "status": "pending",
        "attempts": 0, "next_attempt_at": not_before or now, "locked_by": None, "locked_until": None,
        "last_error": None, "created_at": now, "sent_at": None,
    }, ["idempotency_key"])
    return session.execute(select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
                           .execution_options(populate_existing=True)).scalar_one()


def claim(session: Session, worker: str, limit: int = 10, *, lease: timedelta = DEFAULT_LEASE,
          now: datetime | None = None, kinds: tuple[str, ...] | None = None) -> list[OutboxMessage]:
    """Lease up to ``limit`` due messages to ``worker`` (oldest due first). Commit promptly:
    the row locks are held until then; the lease protects the messages after it."""
    now = now or utcnow()
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.status.in_(("pending", "failed")), OutboxMessage.next_attempt_at <= now,
                  or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
           .limit(limit))
    if kinds:
        due = due.where(OutboxMessage.kind.in_(kinds))
    ids = list(session.execute(for_update(session, due, skip_locked=True)).scalars())
    if not ids:
        return []
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                    .values(locked_by=worker, locked_until=now + lease))
    return list(session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                                .execution_options(populate_existing=True)).scalars())


def _owned(message_id: int, worker: str | None) -> list[Any]:
    conditions = [OutboxMessage.id == message_id]
    if worker is not None:
        conditions.append(OutboxMessage.locked_by == worker)
    return conditions


def mark_sent(session: Session, message_id: int, *, worker: str | None = None, now: datetime | None = None) -> None:
    """Delivered. With ``worker``, LeaseLost if another worker holds the message now."""
    result = session.execute(update(OutboxMessage).where(*_owned(message_id, worker))
                             .values(status="sent", sent_at=now or utcnow(), locked_by=None, locked_until=None,
                                     last_error=None))
    if result.rowcount != 1:
        raise LeaseLost(f"outbox message {message_id} is not leased to {worker!r}")


def backoff(attempts: int, base: timedelta = BASE_DELAY, cap: timedelta = MAX_DELAY) -> timedelta:
    """Delay before retry number ``attempts`` (1, 2, ...): base, 2 base, 4 base, ... capped."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


def mark_failed(session: Session, message_id: int, error: str, *, worker: str | None = None,
                now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS,
                base: timedelta = BASE_DELAY, cap: timedelta = MAX_DELAY) -> str:
    """Record a failed attempt; the message retries after ``backoff`` or, after ``max_attempts``,
    is ``dead``. Returns the new status."""
    now = now or utcnow()
    query = for_update(session, select(OutboxMessage.attempts).where(*_owned(message_id, worker)))
    attempts = session.execute(query).scalar_one_or_none()
    if attempts is None:
        raise LeaseLost(f"outbox message {message_id} is not leased to {worker!r}")
    attempts += 1
    status = "dead" if attempts >= max_attempts else "failed"
    session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status=status, attempts=attempts, last_error=error[:4000], locked_by=None, locked_until=None,
        next_attempt_at=now + backoff(attempts, base, cap)))
    return status
