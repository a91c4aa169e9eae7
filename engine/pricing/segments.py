"""Charging periods cut into segments inside which no restriction changes its answer.

A ChargingPeriod runs from its ``start_date_time`` to the next period's (the last one to the
CDR's ``end_date_time``). A restriction boundary can fall inside a period (a CPO that does not
split at 17:00, a kWh threshold, a duration). We then cut the period, and **assume linear
consumption within a period** (as the spec's examples do): each additive volume (ENERGY, TIME,
PARKING_TIME, RESERVATION_TIME) is shared out in proportion to wall-clock (UTC) time, and the
instant a kWh threshold is reached is interpolated the same way. Instantaneous values
(MIN/MAX_CURRENT, MIN/MAX_POWER) hold for the whole period.

Cut points: every local wall-clock boundary (both occurrences of an ambiguous time on a DST
fall-back day), every UTC-offset change (so a boundary inside a skipped hour takes effect at
the jump), every duration threshold and every kWh threshold. Segments are judged at their
start, which is exact because every restriction is "from X inclusive until Y exclusive".

This module knows nothing about prices: subscription and MSP pricing reuse it with their own
``Boundaries`` (e.g. their day/night hours) and price the segment volumes at their own rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from engine.frozen import frozen
from engine.money import to_decimal
from engine.problems import Problem, join_path
from engine.pricing.restrictions import Moment
from engine.pricing.tariff import Boundaries

UTC = timezone.utc
ENERGY, TIME, PARKING_TIME, RESERVATION_TIME = "ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME"
ADDITIVE = (ENERGY, TIME, PARKING_TIME, RESERVATION_TIME)
CHARGING = (ENERGY, TIME, PARKING_TIME)
_SHARED = tuple(d for d in ADDITIVE if d != ENERGY)  # shared out by wall-clock time (energy: by kWh cut)
ZERO = Decimal(0)
ONE = Decimal(1)
_PREC = 50
_MICRO = Decimal(1_000_000)


@frozen
class Segment:
    """A slice of one charging period with constant restriction answers."""

    index: int
    period_index: int
    start: datetime            # UTC
    end: datetime              # UTC
    local_start: datetime      # same instant in the session's local zone
    local_end: datetime
    tariff_id: str | None
    volumes: dict[str, Decimal] = field(default_factory=dict)  # ENERGY kWh, *TIME hours
    energy_before: Decimal = ZERO        # kWh charged in the session before this segment
    seconds_from_start: Decimal = ZERO   # seconds since the session start at ``start``
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    fraction: Decimal = ONE              # share of its period's wall-clock time

    def volume(self, dimension: str) -> Decimal:
        return self.volumes.get(dimension, ZERO)

    @property
    def is_reservation(self) -> bool:
        return self.volume(RESERVATION_TIME) != 0

    @property
    def has_charging(self) -> bool:
        return any(self.volume(d) != 0 for d in CHARGING)

    def moment(self, reservation: str | None = None) -> Moment:
        return Moment(self.local_start, self.energy_before, self.seconds_from_start,  # (positional: cheaper)
                      self.min_current, self.max_current, self.min_power, self.max_power, reservation)


class _Period(NamedTuple):
    """One charging period as read (a tuple: made per period of every CDR, never exposed)."""

    index: int
    start: datetime
    dims: dict[str, Decimal]
    tariff_id: str | None


@dataclass
class _Cut:
    fraction: Decimal
    instant: datetime
    energy: Decimal | None = None
    seconds: Decimal | None = None


def as_utc(value: Any, field_name: str = "date_time") -> datetime:
    """An aware UTC datetime from a datetime (naive = UTC) or an RFC 3339 string."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    else:
        raise ValueError(f"{field_name}: expected a date-time, got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def seconds_between(a: datetime, b: datetime) -> Decimal:
    """``b - a`` in seconds, exact to the microsecond (the whole microseconds as one integer
    Decimal, then one division: a value and exponent equal to seconds x 10^6 + micro, / 10^6)."""
    delta = b - a
    return Decimal((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) / _MICRO


def _add_seconds(dt: datetime, seconds: Decimal) -> datetime:
    return dt + timedelta(microseconds=int((seconds * _MICRO).to_integral_value()))


def _read_periods(cdr: dict[str, Any], problems: list[Problem]) -> list[_Period]:
    periods: list[_Period] = []
    for i, raw in enumerate(cdr.get("charging_periods") or []):
        if not isinstance(raw, dict):
            problems.append(Problem("INVALID_PERIOD", "charging period is not an object",
                                    path=join_path("charging_periods", i), severity="warning"))
            continue
        start = raw.get("start_date_time")
        if type(start) is not datetime or start.tzinfo is not UTC:  # (intake gave UTC datetimes)
            try:
                start = as_utc(start, "start_date_time")
            except ValueError as exc:
                problems.append(Problem("INVALID_PERIOD", f"{exc}; period ignored",
                                        path=join_path(join_path("charging_periods", i), "start_date_time"),
                                        severity="warning"))
                continue
        dims: dict[str, Decimal] = {}
        for j, dim in enumerate(raw.get("dimensions") or []):
            if not isinstance(dim, dict):
                continue
            kind = dim.get("type")
            merge = _MERGE.get(kind) if type(kind) is str else None  # (intake gave upper-case names)
            if merge is None:
                kind = str(kind or "").upper()
                merge = _merge_of(kind)
            volume = dim.get("volume")
            try:
                if type(volume) is not Decimal or not volume.is_finite():  # (intake gave Decimals)
                    volume = to_decimal(volume, field="volume")
            except (TypeError, ValueError) as exc:
                path = join_path(join_path(join_path("charging_periods", i), "dimensions"), j)
                problems.append(Problem("INVALID_PERIOD", f"{exc}; dimension ignored",
                                        path=join_path(path, "volume"), severity="warning"))
                continue
            if merge is _ADD:
                dims[kind] = dims.get(kind, ZERO) + volume
            elif merge is _MIN:
                dims[kind] = min(dims.get(kind, volume), volume)
            elif merge is _MAX:
                dims[kind] = max(dims.get(kind, volume), volume)
            else:
                dims[kind] = volume
        tariff_id = raw.get("tariff_id")
        periods.append(_Period(i, start, dims, str(tariff_id) if tariff_id is not None else None))
    if any(b.start < a.start for a, b in zip(periods, periods[1:])):
        problems.append(Problem("PERIODS_NOT_CHRONOLOGICAL", "charging periods were sorted by start time",
                                path="charging_periods", severity="warning"))
        periods.sort(key=lambda p: p.start)
    return periods


def _merge_of(kind: str) -> str:
    """How a period merges repeated values of a dimension: additive ones add up, MIN_* keep the
    least, MAX_* the greatest, anything else the last one given."""
    if kind in ADDITIVE:
        return _ADD
    if kind.startswith("MIN_"):
        return _MIN
    if kind.startswith("MAX_"):
        return _MAX
    return _LAST


_ADD, _MIN, _MAX, _LAST = "add", "min", "max", "last"
# the upper-case dimension names OCPI defines (anything else is read through _merge_of per use)
_MERGE = {kind: _merge_of(kind) for kind in (
    *ADDITIVE, "CURRENT", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "POWER", "STATE_OF_CHARGE")}


def _electrical(dims: dict[str, Decimal]) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    """(min_current, max_current, min_power, max_power) for the current/power restrictions of a period.

    Given MIN_/MAX_ values first, then the (session-only) averages CURRENT/POWER; failing those,
    power is ENERGY/TIME of the period, and a period without charging (no ENERGY, no TIME: only
    parking or reservation) draws 0 A / 0 kW. Called inside ``split_periods``' context (_PREC).
    """
    current = dims.get("CURRENT")
    power = _average_power(dims)
    idle = dims.get(TIME, ZERO) == 0 and dims.get(ENERGY, ZERO) == 0
    if idle:
        current = ZERO if current is None else current
        power = ZERO if power is None else power
    return (dims.get("MIN_CURRENT", current), dims.get("MAX_CURRENT", current),  # Segment's min/max current,
            dims.get("MIN_POWER", power), dims.get("MAX_POWER", power))          # min/max power


def _average_power(dims: dict[str, Decimal]) -> Decimal | None:
    """POWER as given, else ENERGY/TIME while charging (the one step of ``_electrical`` that
    can raise: the quotient can overflow), else None."""
    power = dims.get("POWER")
    if power is None and dims.get(TIME, ZERO) > 0 and ENERGY in dims:
        power = dims[ENERGY] / dims[TIME]  # average power while charging
    return power


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in ``(start, end)`` where the zone's UTC offset changes (DST), to the second."""
    out: list[datetime] = []
    step = timedelta(hours=1)
    t = start
    prev = start.astimezone(zone).utcoffset()
    while t < end:
        nxt = min(t + step, end)
        off = nxt.astimezone(zone).utcoffset()
        if off != prev:
            lo = int(t.timestamp())
            hi = int(nxt.timestamp()) + (0 if nxt.timestamp() == int(nxt.timestamp()) else 1)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            instant = datetime.fromtimestamp(hi, UTC)
            if start < instant < end:
                out.append(instant)
            prev = off
        t = nxt
    return out


def wall_clock_instants(zone: ZoneInfo, times: Iterable[time], start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in ``(start, end)`` at which local wall-clock time is one of ``times``.

    Both occurrences of an ambiguous local time are returned; a local time skipped by a DST jump
    has no instant of its own (the jump itself is reported by ``offset_changes``).
    """
    times = frozenset(times)
    if not times:
        return []
    out: set[datetime] = set()
    day: date = start.astimezone(zone).date() - timedelta(days=1)
    last: date = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        out.update(instant for instant in _day_instants(zone, times, day) if start < instant < end)
        day += timedelta(days=1)
    return sorted(out)


@lru_cache(maxsize=4096)
def _day_instants(zone: ZoneInfo, times: frozenset[time], day: date) -> tuple[datetime, ...]:
    """The UTC instants at which local wall-clock time on ``day`` is one of ``times`` (both
    occurrences of an ambiguous time, none for a skipped one). Depends on nothing else, so it is
    remembered: every CDR of a day and zone with the same tariff boundaries asks the same."""
    out = []
    for t in times:
        for fold in (0, 1):
            local = datetime.combine(day, t, tzinfo=zone).replace(fold=fold)
            instant = local.astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
                out.append(instant)
    return tuple(out)


def session_start_of(cdr: dict[str, Any], periods: list[_Period] | None = None) -> datetime:
    """Where durations are measured from: the CDR's start, or (after a reservation) the first
    period that is not a reservation."""
    start = as_utc(cdr.get("start_date_time"), "start_date_time")
    return _session_start(start, periods if periods is not None else _read_periods(cdr, []))


def _session_start(start: datetime, periods: list[_Period]) -> datetime:
    """``session_start_of`` with the CDR's start already read."""
    if any(p.dims.get(RESERVATION_TIME, ZERO) != 0 for p in periods):
        for p in periods:
            if p.dims.get(RESERVATION_TIME, ZERO) == 0:
                return p.start
    return start


def split_periods(cdr: dict[str, Any], zone: ZoneInfo, boundaries: Boundaries = Boundaries()
                  ) -> tuple[list[Segment], list[Problem]]:
    """Cut the CDR's charging periods at ``boundaries`` (and DST changes); linear consumption.

    Returns the segments in time order and the problems found (warnings only: a CDR without
    usable periods gives an empty list and a ``NO_CHARGING_PERIODS`` warning).
    """
    problems: list[Problem] = []
    periods = _read_periods(cdr, problems)
    if not periods:
        problems.append(Problem("NO_CHARGING_PERIODS", "the CDR has no usable charging periods",
                                path="charging_periods", severity="warning"))
        return [], problems
    cdr_start = as_utc(cdr.get("start_date_time"), "start_date_time")
    cdr_end = as_utc(cdr.get("end_date_time"), "end_date_time")
    session_start = _session_start(cdr_start, periods)
    _outside_session(periods, cdr_start, cdr_end, problems)

    segments: list[Segment] = []
    energy_so_far = ZERO
    cuts: list[_Cut] = []
    any_boundary = bool(boundaries.times_of_day or boundaries.seconds or boundaries.kwh)
    local_start = periods[0].start.astimezone(zone)
    with localcontext() as ctx:
        ctx.prec = _PREC
        for n, period in enumerate(periods):
            end = periods[n + 1].start if n + 1 < len(periods) else max(cdr_end, period.start)
            if any_boundary:  # (no boundary, no cut: the period is one segment)
                cuts = _cuts(period, end, zone, boundaries, session_start, energy_so_far)
            elec = _electrical(period.dims)
            segments.extend(_segments(period, end, cuts, zone, session_start, energy_so_far, elec,
                                      first_index=len(segments), local_start=local_start))
            local_start = segments[-1].local_end  # (== the next period's start, in local time)
            energy_so_far += period.dims.get(ENERGY, ZERO)
    return segments, problems


def _outside_session(periods: list[_Period], cdr_start: datetime, cdr_end: datetime,
                     problems: list[Problem]) -> None:
    """Warn when the (sorted) periods begin before the CDR's start or end after its end."""
    if periods[0].start < cdr_start:
        problems.append(Problem("PERIOD_OUTSIDE_SESSION",
                                "the first charging period starts before the CDR's start_date_time",
                                path="charging_periods[0].start_date_time", severity="warning"))
    if periods[-1].start > cdr_end:
        problems.append(Problem("PERIOD_OUTSIDE_SESSION",
                                "the last charging period starts after the CDR's end_date_time",
                                path=join_path("charging_periods", periods[-1].index), severity="warning"))


# The instants whose local time any zone can represent (UTC offsets are under a day): inside
# them ``astimezone`` cannot overflow.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def uncut_periods(cdr: dict[str, Any], cdr_start: datetime, cdr_end: datetime
                  ) -> tuple[list[_Period], list[dict[str, Decimal]], list[Problem]] | None:
    """The CDR's periods and the volumes of ``split_periods``' segments when nothing cuts them
    (no boundaries: one segment per period, in the same order), without making the segments.

    Why it is exactly ``split_periods(cdr, zone, Boundaries())``: the same ``_read_periods`` and
    checks give the same periods and problems; each volume is the same expression in the same
    prec-50 context (ENERGY: energy so far plus the period's, minus energy so far, which can
    change the exponent; the time dimensions: the period's value minus 0, the last and only
    slice's remainder); the average power of ``_electrical`` is still worked out because it
    can overflow and that exception is part of the answer. What it leaves out cannot change a volume or
    raise: the local times (None is returned, for the general path to decide, when an instant
    is so near the ends of the calendar that converting it could overflow), the seconds since
    the session start, the Segment objects. None too when the CDR has no usable period.
    ``cdr_start``/``cdr_end``: the CDR's start and end as ``as_utc`` gives them (the caller has them).
    """
    problems: list[Problem] = []
    periods = _read_periods(cdr, problems)
    if not periods:
        return None
    if not (_EARLIEST <= periods[0].start and max(cdr_end, periods[-1].start) <= _LATEST):
        return None
    _outside_session(periods, cdr_start, cdr_end, problems)
    volumes_of: list[dict[str, Decimal]] = []
    energy_so_far = ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        for period in periods:
            dims = period.dims
            _average_power(dims)  # (the period's current and power are not needed; the quotient can raise)
            volumes: dict[str, Decimal] = {}
            if ENERGY in dims:
                volumes[ENERGY] = (energy_so_far + dims[ENERGY]) - energy_so_far
            for d in _SHARED:
                if d in dims:
                    volumes[d] = dims[d] - ZERO
            volumes_of.append(volumes)
            energy_so_far += dims.get(ENERGY, ZERO)
    return periods, volumes_of, problems


def _cuts(period: _Period, end: datetime, zone: ZoneInfo, b: Boundaries, session_start: datetime,
          energy_before: Decimal) -> list[_Cut]:
    start = period.start
    total = seconds_between(start, end)
    if total <= 0:
        return []
    cuts: dict[Decimal, _Cut] = {}

    def at(instant: datetime, **extra: Decimal) -> None:
        f = seconds_between(start, instant) / total
        if 0 < f < 1:
            cut = cuts.setdefault(f, _Cut(f, instant))
            for key, value in extra.items():
                setattr(cut, key, value)

    if b.times_of_day:
        for instant in wall_clock_instants(zone, b.times_of_day, start, end):
            at(instant)
        for instant in offset_changes(zone, start, end):
            at(instant)
    for s in b.seconds:
        instant = _add_seconds(session_start, s)
        if start < instant < end:
            at(instant, seconds=s)
    energy = period.dims.get(ENERGY, ZERO)
    if energy != 0:
        for k in b.kwh:
            f = (k - energy_before) / energy
            if 0 < f < 1:
                cut = cuts.setdefault(f, _Cut(f, _add_seconds(start, total * f)))
                cut.energy = k
    return sorted(cuts.values(), key=lambda c: c.fraction)


def _segments(period: _Period, end: datetime, cuts: list[_Cut], zone: ZoneInfo, session_start: datetime,
              energy_before: Decimal, elec: tuple[Decimal | None, ...], first_index: int,
              local_start: datetime) -> list[Segment]:
    """The period cut at ``cuts``; ``local_start`` is its start in local time (each instant is
    converted once: a segment's end is the next one's start)."""
    dims = period.dims
    energy = dims.get(ENERGY, ZERO)
    # (fraction, instant, energy so far, seconds so far or None) of every cut point
    points = [(ZERO, period.start, energy_before, None)]
    points += [(c.fraction, c.instant, energy_before + energy * c.fraction if c.energy is None else c.energy,
                c.seconds) for c in cuts]
    points.append((ONE, end, energy_before + energy, None))
    out: list[Segment] = []
    spent = {d: ZERO for d in _SHARED if d in dims}
    has_energy = ENERGY in dims
    last = len(points) - 2
    for j in range(last + 1):
        a_fraction, a_instant, a_energy, a_seconds = points[j]
        b_fraction, b_instant, b_energy, _ = points[j + 1]
        share = b_fraction - a_fraction
        volumes: dict[str, Decimal] = {}
        if has_energy:
            volumes[ENERGY] = b_energy - a_energy
        for d in spent:
            v = dims[d] - spent[d] if j == last else dims[d] * share
            spent[d] += v
            volumes[d] = v
        seconds = a_seconds if a_seconds is not None else seconds_between(session_start, a_instant)
        local_end = b_instant.astimezone(zone)
        out.append(Segment(  # (positional, in field order: cheaper than keywords)
            first_index + j, period.index, a_instant, b_instant, local_start, local_end, period.tariff_id,
            volumes, a_energy, seconds, *elec, share))
        local_start = local_end
    return out
