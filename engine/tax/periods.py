"""Validity periods (valid_from / valid_to, both inclusive) and the checks on a sequence of them.

Used by every versioned table in tax and rates config (VAT rates, plan versions, MSP tariff
versions). ``valid_to`` is inclusive — the same convention as subscriptions and MSP contracts in
the reference data — so "plan A until 2026-10-14, plan B from 2026-10-15" has neither gap nor
overlap. A gap is a warning (sessions in it cannot be priced, but it may be intended: a tariff
that was withdrawn); an overlap is an error (two prices for one day is never intended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence

from engine.config.yamlload import Loc
from engine.problems import Problem


@dataclass(frozen=True)
class Period:
    valid_from: date
    valid_to: date | None = None  # inclusive; None = open-ended

    def contains(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def overlap_days(self, start: date, end: date) -> tuple[date, date] | None:
        """The part of [start, end] (inclusive) this period covers, or None."""
        lo = max(start, self.valid_from)
        hi = end if self.valid_to is None else min(end, self.valid_to)
        return (lo, hi) if lo <= hi else None

    def to_json(self) -> dict[str, str | None]:
        return {"valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None}


def as_date(value: Any) -> date | None:
    """A YAML/fact date (ISO string, date or datetime) as a date; None/"" stay None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def problem_at(loc: Loc | None, code: str, message: str, *, severity: str = "error",
               file: str | None = None, path: str = "") -> Problem:
    """A Problem located at a YAML node (falls back to line 1 of ``file``)."""
    if loc is None:
        return Problem(code=code, message=message, path=path, file=file, line=1 if file else None,
                       col=1 if file else None, severity=severity)
    return Problem(code=code, message=message, path=path, file=loc.file, line=loc.line, col=loc.col,
                   severity=severity)


def check_sequence(items: Sequence[tuple[Period, Loc | None]], what: str) -> list[Problem]:
    """Overlaps (error), gaps (warning) and inverted periods (error) among versions of one thing.

    ``what`` names the thing in messages ("plan 'comfort'"). Items may come in any order.
    """
    problems: list[Problem] = []
    for period, loc in items:
        if period.valid_to is not None and period.valid_to < period.valid_from:
            problems.append(problem_at(loc, "validity.inverted",
                                       f"{what}: valid_to {period.valid_to} is before valid_from {period.valid_from}"))
    ordered = sorted(items, key=lambda it: it[0].valid_from)
    for (prev, _), (cur, loc) in zip(ordered, ordered[1:]):
        if prev.valid_to is None or cur.valid_from <= prev.valid_to:
            until = "open-ended" if prev.valid_to is None else f"until {prev.valid_to}"
            problems.append(problem_at(loc, "validity.overlap",
                                       f"{what}: version from {cur.valid_from} overlaps the version from "
                                       f"{prev.valid_from} ({until})"))
        elif cur.valid_from > prev.valid_to + timedelta(days=1):
            problems.append(problem_at(loc, "validity.gap",
                                       f"{what}: no version valid from {prev.valid_to + timedelta(days=1)} "
                                       f"to {cur.valid_from - timedelta(days=1)}", severity="warning"))
    return problems


def pick(items: Iterable[Any], day: date, period_of=lambda item: item.period) -> Any | None:
    """The item whose period contains ``day`` (first in order), or None."""
    for item in items:
        if period_of(item).contains(day):
            return item
    return None
