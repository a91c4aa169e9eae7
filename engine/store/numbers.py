"""Document numbers: unique, sequential per (stream, year), gaps explainable.

German law (§14 UStG) wants invoice numbers unique and sequential; separate ranges per stream
are fine (``AH-2026-000001``, ``SUB-2026-000001``, ``MSP-2026-000001``). A number is claimed in
the caller's transaction by incrementing the range's counter row with a row lock (``SELECT ...
FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers). If that
transaction rolls back, the counter rolls back with it, so a number exists only if the
document that uses it was committed: gap-free. A number that must not be used after all is
*voided* - logged with the reason and never issued again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.models import NumberLogEntry, NumberRange

DEFAULT_PREFIXES = {"adhoc": "AH-", "subscription": "SUB-", "msp": "MSP-"}
WIDTH = 6


class NumberError(ValueError):
    pass


def format_number(prefix: str, year: int, value: int) -> str:
    return f"{prefix}{year}-{value:0{WIDTH}d}"


def _range(session: Session, stream: str, year: int, prefix: str | None) -> NumberRange:
    """The locked counter row of (stream, year), created at 1 on first use."""
    # populate_existing: a range object left in the session by an earlier transaction
    # (expire_on_commit=False) must not shadow the value just read under the lock.
    query = for_update(session, select(NumberRange).where(NumberRange.stream == stream, NumberRange.year == year)
                       ).execution_options(populate_existing=True)
    found = session.execute(query).scalar_one_or_none()
    if found is not None:
        return found
    chosen = prefix or DEFAULT_PREFIXES.get(stream)
    if not chosen:
        raise NumberError(f"no number prefix known for stream {stream!r}; pass prefix=")
    owner = session.execute(select(NumberRange.stream).where(NumberRange.prefix == chosen,
                                                             NumberRange.year == year)).scalar_one_or_none()
    if owner is not None and owner != stream:
        raise NumberError(f"prefix {chosen!r} is already used by stream {owner!r} in {year}")
    # Two callers may create the same range at once: the loser's insert does nothing. Any unique
    # constraint, not only (stream, year): on PostgreSQL the loser can meet the winner's row on
    # (prefix, year) first, which ON CONFLICT (stream, year) would raise as a UniqueViolation.
    insert_ignore(session, NumberRange, {"stream": stream, "prefix": chosen, "year": year, "next_value": 1}, [])
    found = session.execute(query).scalar_one_or_none()
    if found is None:  # (the prefix was taken by another stream's range created meanwhile)
        raise NumberError(f"prefix {chosen!r} is already used by another stream in {year}")
    return found


def next_number(session: Session, stream: str, year: int, *, prefix: str | None = None,
                now: datetime | None = None) -> str:
    """Claim the next number of the range, e.g. ``AH-2026-000001``, and log it as issued.

    ``prefix`` is only used when the range is created (default per stream, see
    DEFAULT_PREFIXES); an existing range keeps its prefix.
    """
    counter = _range(session, stream, year, prefix)
    value = counter.next_value
    counter.next_value = value + 1
    number = format_number(counter.prefix, year, value)
    session.add(NumberLogEntry(number=number, action="issued", stream=stream, year=year, value=value,
                               reason=None, logged_at=now or utcnow()))
    session.flush()
    return number


def void_number(session: Session, number: str, reason: str, *, now: datetime | None = None) -> bool:
    """Log ``number`` as voided with ``reason`` (it stays used: never issued again).

    False if it was voided already; NumberError if it was never issued.
    """
    if not reason or not reason.strip():
        raise NumberError("a voided number needs a reason")
    issued = session.execute(select(NumberLogEntry).where(NumberLogEntry.number == number,
                                                          NumberLogEntry.action == "issued")).scalar_one_or_none()
    if issued is None:
        raise NumberError(f"{number} was never issued")
    new_id = insert_ignore(session, NumberLogEntry, {
        "number": number, "action": "voided", "stream": issued.stream, "year": issued.year,
        "value": issued.value, "reason": reason, "logged_at": now or utcnow(),
    }, ["number", "action"])
    return new_id is not None


def number_log(session: Session, stream: str, year: int) -> list[NumberLogEntry]:
    """Every issue and void of a range, in order: the evidence that gaps are explained."""
    return list(session.execute(select(NumberLogEntry)
                                .where(NumberLogEntry.stream == stream, NumberLogEntry.year == year)
                                .order_by(NumberLogEntry.value, NumberLogEntry.id)).scalars())
