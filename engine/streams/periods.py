"""The state of a billing period and what a period close reports.

A period is one ``billing_periods`` row per (stream, YYYY-MM) with party ``*``:

    open --prepare--> closing --finish--> closed

``prepare`` runs once, in one transaction, under the row lock (``SELECT ... FOR UPDATE``): it
turns the stream's new Decisions into billable items (built into this period while it is open)
and assigns the waiting ones of the period - and the late ones of earlier closed periods - to
it, then marks it ``closing``. (A big backlog of new Decisions is turned into items just before,
in committed batches - idempotent, so a racing closer or a crash costs nothing; under the lock
only what was decided meanwhile is left.) Items that arrive after that wait for the next period (they are late once this one is
closed). A close that stops half-way leaves the period ``closing``; running it again skips
``prepare`` and issues what is missing (documents already issued are recognised by their
business keys).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.documents.model import BillingDocument
from engine.store._sql import for_update, utcnow
from engine.store.models import BillingPeriod
from engine.streams.documents import document_vat
from engine.streams.billable import (
    ALL_PARTIES, assign_period, count_assigned, ensure_period, last_decision, period_status, sync_billable,
    waiting_earlier,
)

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
# What a close call ended with.
DONE, ALREADY_CLOSED, BEING_CLOSED, INCOMPLETE = "closed", "already_closed", "being_closed", "incomplete"
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def period_bounds(period_key: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` period."""
    match = _PERIOD.match(period_key or "")
    if not match:
        raise PeriodError(f"a period is YYYY-MM, not {period_key!r}")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def check_as_of(period_key: str, as_of: date) -> tuple[date, date]:
    start, end = period_bounds(period_key)
    if as_of <= end:
        raise PeriodError(f"period {period_key} ends {end.isoformat()}: it can be closed as of "
                          f"{date.fromordinal(end.toordinal() + 1).isoformat()} or later, not {as_of.isoformat()}")
    return start, end


@dataclass
class DocumentFailure:
    business_key: str
    party: str
    problems: list[dict[str, Any]]


@dataclass
class PeriodResult:
    stream: str
    period_key: str
    outcome: str = DONE
    status_before: str | None = None
    assigned: int = 0
    late: int = 0
    documents: list[BillingDocument] = field(default_factory=list)
    already_issued: int = 0
    failures: list[DocumentFailure] = field(default_factory=list)
    waiting_earlier: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def totals(self) -> tuple[Decimal, Decimal, Decimal]:
        net = vat = gross = Decimal("0.00")
        for doc in self.documents:
            net, vat, gross = net + doc.net, vat + document_vat(doc), gross + doc.gross
        return net, vat, gross


def lock_period(session: Session, stream: str, period_key: str, *, skip_locked: bool = False) -> BillingPeriod | None:
    """The period row under ``SELECT ... FOR UPDATE [SKIP LOCKED]`` (PostgreSQL); None when
    ``skip_locked`` and another transaction holds it."""
    query = for_update(session, select(BillingPeriod).where(
        BillingPeriod.stream == stream, BillingPeriod.period_key == period_key, BillingPeriod.party_ref == ALL_PARTIES),
        skip_locked=skip_locked).execution_options(populate_existing=True)
    return session.execute(query).scalar_one_or_none()


def prepare(session: Session, stream: str, period_key: str, result: PeriodResult, *, skip_locked: bool = False,
            now: datetime | None = None) -> BillingPeriod | None:
    """open -> closing (sync + assign) under the row lock, or nothing when it is closing/closed.
    Commits. None when ``skip_locked`` and the row is locked by another closer."""
    now = now or utcnow()
    ensure_period(session, stream, period_key, now=now)
    session.commit()
    synced_to: int | None = None
    if period_status(session, stream, period_key) == OPEN:
        synced_to = last_decision(session)
        sync_billable(session, stream, now=now, commit=True)   # the backlog, outside the lock
        session.commit()
    row = lock_period(session, stream, period_key, skip_locked=skip_locked)
    if row is None and period_status(session, stream, period_key) == OPEN:
        # Held, yet open: by a sync building items into it (FOR SHARE, for one batch) or by
        # another closer's prepare - both brief. Wait for the row rather than report the period
        # as being closed; a closer that gets it first leaves it closing, which is seen below.
        row = lock_period(session, stream, period_key)
    if row is None:
        session.rollback()
        return None
    result.status_before = row.status
    if row.status == OPEN:
        sync_billable(session, stream, now=now, since=synced_to)   # what was decided meanwhile
        assign_period(session, stream, period_key)
        result.assigned = count_assigned(session, stream, period_key)
        row.status = CLOSING
    result.waiting_earlier = waiting_earlier(session, stream, period_key)
    session.commit()
    return row


def finish(session: Session, stream: str, period_key: str, *, now: datetime | None = None) -> None:
    """closing -> closed (the caller commits)."""
    session.execute(update(BillingPeriod)
                    .where(BillingPeriod.stream == stream, BillingPeriod.period_key == period_key,
                           BillingPeriod.party_ref == ALL_PARTIES, BillingPeriod.status != CLOSED)
                    .values(status=CLOSED, closed_at=now or utcnow()))
