"""TariffRestrictions: parsing, and whether they hold at one moment of a session.

All restrictions of an element are AND-ed. Each is judged at the *start* of a segment (see
``segments.py``): segments are cut wherever any restriction could change its answer, and every
OCPI restriction is of the form "valid from X (inclusive) until Y (exclusive)", so the answer at
a segment's start is the answer for the whole segment.

* ``start_time``/``end_time``: local wall-clock time, ``[start, end)``; ``end < start`` wraps past
  midnight; ``end_time = "00:00"`` (or ``"24:00"``) means end of day; ``start == end`` is all day.
* ``start_date`` inclusive, ``end_date`` exclusive, local date.
* ``min_kwh`` inclusive / ``max_kwh`` exclusive: energy charged so far in the session.
* ``min_current``/``min_power`` inclusive, ``max_current``/``max_power`` exclusive: judged with the
  period's MIN_* value for a minimum and its MAX_* value for a maximum (the spec's "charging with
  a maximum of 16A" / "a minimum of 43A"); missing values fall back to the other extreme, then to
  the average (power: ENERGY/TIME of the period); with nothing known the restriction does not hold.
* ``min_duration`` inclusive / ``max_duration`` exclusive: seconds since the session start.
* ``day_of_week``: local weekday; an empty list restricts nothing.
* ``reservation``: an element with it prices reservations only, one without it prices the
  charging session only; ``RESERVATION_EXPIRES`` elements apply to expired reservations only.
"""

from __future__ import annotations

import re
from dataclasses import field, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from engine.frozen import frozen
from engine.money import to_decimal
from engine.problems import Problem, join_path

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
RESERVATION = "RESERVATION"
RESERVATION_EXPIRES = "RESERVATION_EXPIRES"
RESERVATION_KINDS = (RESERVATION, RESERVATION_EXPIRES)

_TIME_RE = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
END_OF_DAY = time(0, 0)


@frozen
class Moment:
    """Everything a restriction may look at, at the start of one segment."""

    local: datetime                  # aware, in the session's local zone
    energy_kwh: Decimal = Decimal(0)  # energy charged in the session before this moment
    seconds: Decimal = Decimal(0)     # seconds since the session start
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    reservation: str | None = None    # None (charging) | RESERVATION | RESERVATION_EXPIRES (expired)


@frozen
class Restrictions:
    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: Decimal | None = None
    max_duration: Decimal | None = None
    day_of_week: frozenset[int] = field(default_factory=frozenset)  # 0 = Monday
    reservation: str | None = None
    invalid: bool = False  # a restriction could not be read: the element never applies

    @property
    def is_empty(self) -> bool:
        return self == Restrictions()

    @property
    def uses_wall_clock(self) -> bool:
        return bool(self.start_time or self.end_time or self.start_date or self.end_date or self.day_of_week)

    @property
    def uses_current(self) -> bool:
        return self.min_current is not None or self.max_current is not None

    @property
    def uses_power(self) -> bool:
        return self.min_power is not None or self.max_power is not None

    def holds(self, m: Moment) -> bool:
        """True when every restriction set on this element is satisfied at moment ``m``."""
        known = self.holds_for_kind(m.reservation)
        if known is not None:
            return known
        if not self._time_of_day_holds(m.local.time().replace(tzinfo=None)):
            return False
        day = m.local.date()
        if self.start_date is not None and day < self.start_date:
            return False
        if self.end_date is not None and day >= self.end_date:
            return False
        if self.day_of_week and m.local.weekday() not in self.day_of_week:
            return False
        if self.min_kwh is not None and not m.energy_kwh >= self.min_kwh:
            return False
        if self.max_kwh is not None and not m.energy_kwh < self.max_kwh:
            return False
        if self.min_duration is not None and not m.seconds >= self.min_duration:
            return False
        if self.max_duration is not None and not m.seconds < self.max_duration:
            return False
        if not _min_max_holds(self.min_current, self.max_current, m.min_current, m.max_current):
            return False
        if not _min_max_holds(self.min_power, self.max_power, m.min_power, m.max_power):
            return False
        return True

    def holds_for_kind(self, reservation: str | None) -> bool | None:
        """``holds``'s answer at every moment of the given kind (charging ``None``, RESERVATION,
        RESERVATION_EXPIRES) when the kind alone decides it: an invalid element, a reservation
        mismatch, or nothing but ``reservation`` set. None when the moment's values matter.
        Lets pricing skip building a moment for the usual unrestricted elements."""
        if self.invalid:
            return False
        if reservation is None:
            if self.reservation is not None:
                return False
        elif self.reservation is None:
            return False
        elif self.reservation == RESERVATION_EXPIRES and reservation != RESERVATION_EXPIRES:
            return False
        if self._only_reservation:
            return True
        return None

    @property
    def _only_reservation(self) -> bool:
        """Nothing but (at most) ``reservation`` is set: the usual unrestricted element, for which
        ``holds`` can stop after the reservation check. Worked out once per instance (the tariff
        cache shares them across CDRs), in the instance dict so frozen stays true."""
        known = self.__dict__.get("_only_reservation_")
        if known is None:
            known = replace(self, reservation=None, invalid=False) == _UNRESTRICTED
            object.__setattr__(self, "_only_reservation_", known)
        return known

    def _time_of_day_holds(self, t: time) -> bool:
        start, end = self.start_time, self.end_time
        if start is None and end is None:
            return True
        if end is not None and end == END_OF_DAY:
            end = None  # "00:00" as end = end of the day
        if start is None:
            return end is None or t < end
        if end is None:
            return t >= start
        if start < end:
            return start <= t < end
        if start == end:
            return True  # a full day: every wall-clock time is both after start and before end
        return t >= start or t < end  # wraps past midnight


_UNRESTRICTED = Restrictions()


def _min_max_holds(lower: Decimal | None, upper: Decimal | None,
                   observed_min: Decimal | None, observed_max: Decimal | None) -> bool:
    if lower is not None:
        value = observed_min if observed_min is not None else observed_max
        if value is None or not value >= lower:
            return False
    if upper is not None:
        value = observed_max if observed_max is not None else observed_min
        if value is None or not value < upper:
            return False
    return True


def parse_time(value: Any) -> time:
    """``"HH:MM"`` (``"24:00"`` accepted as end of day) to a ``time``; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string HH:MM, got {value!r}")
    match = _TIME_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a time HH:MM")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"{value!r} is not a time HH:MM")
        return END_OF_DAY
    return time(hour, minute)


def parse_restrictions(raw: Any, path: str = "restrictions") -> tuple[Restrictions, list[Problem]]:
    """A normalised TariffRestrictions dict (or None) to ``Restrictions`` plus problems.

    A restriction that cannot be read makes the element inapplicable (``invalid``) and yields a
    warning: guessing what an unreadable restriction meant would invent a price.
    """
    if raw is None:
        return Restrictions(), []
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        problems.append(Problem("INVALID_RESTRICTION", "restrictions must be an object", path=path,
                                severity="warning"))
        return Restrictions(invalid=True), problems
    values: dict[str, Any] = {}
    invalid = False

    def bad(key: str, message: str) -> None:
        nonlocal invalid
        invalid = True
        problems.append(Problem("INVALID_RESTRICTION", f"{key}: {message}; element ignored",
                                path=join_path(path, key), severity="warning"))

    for key in ("start_time", "end_time"):
        if raw.get(key) is not None:
            try:
                values[key] = parse_time(raw[key])
            except ValueError as exc:
                bad(key, str(exc))
    for key in ("start_date", "end_date"):
        value = raw.get(key)
        if value is not None:
            try:
                values[key] = value if isinstance(value, date) and not isinstance(value, datetime) \
                    else date.fromisoformat(str(value).strip())
            except ValueError:
                bad(key, f"{value!r} is not a date YYYY-MM-DD")
    for key in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power",
                "min_duration", "max_duration"):
        if raw.get(key) is not None:
            try:
                values[key] = to_decimal(raw[key], field=key)
            except (TypeError, ValueError) as exc:
                bad(key, str(exc))
    days = raw.get("day_of_week")
    if days is not None:
        if isinstance(days, str):
            days = [days]
        parsed: set[int] = set()
        for i, day in enumerate(days if isinstance(days, (list, tuple)) else [days]):
            name = str(day).strip().upper()
            if name in DAYS:
                parsed.add(DAYS.index(name))
            else:
                bad(f"day_of_week[{i}]", f"{day!r} is not a DayOfWeek")
        values["day_of_week"] = frozenset(parsed)
    reservation = raw.get("reservation")
    if reservation is not None:
        name = str(reservation).strip().upper()
        if name in RESERVATION_KINDS:
            values["reservation"] = name
        else:
            bad("reservation", f"{reservation!r} is not a ReservationRestrictionType")
    return Restrictions(invalid=invalid, **values), problems
