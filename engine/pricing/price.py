"""Price a normalised OCPI 2.2.1 CDR with a tariff: pure, no I/O, no clock.

Pipeline: choose the tariff -> resolve the local zone -> cut the charging periods into segments
(``segments.py``) -> per segment and dimension pick the first matching element (``tariff.py``)
-> FLAT once per session -> step_size once per session (``step_size.py``) -> one Component per
price component used -> money (``engine.money``: line nets to 2 dp, VAT per rate on the summed
nets) -> min_price/max_price clamp -> comparison with the CDR's own total.

Decisions worth knowing (OCPI leaves them open or the text is ambiguous):

* A Component is one price component of one element over the whole session (all its slices
  merged), so splitting a period never changes a price; its net is rounded once (2 dp), VAT is
  computed per rate on the summed nets and shared back onto the lines (``vat.py``). The exact,
  unrounded figures are kept next to the rounded ones (``exact_*``).
* ``difference`` compares the CDR's total with the exact recomputation rounded once (OCPI has
  no rounding rule); ``billed`` compares it with our policy-rounded total. A one-cent
  difference is an ``info`` finding, beyond ``tolerance`` a ``warning``; never an exception.
* FLAT: once per charging session, from the first element whose restrictions hold at its first
  segment; a reservation's FLAT (RESERVATION_FLAT) likewise at the reservation's start. A
  reservation has expired when the CDR has reservation time and no ENERGY/TIME/PARKING_TIME.
* min_price/max_price clamp the total excl. and incl. VAT independently; sub-totals and lines
  are not clamped, the clamp is recorded as ``adjustment`` (a limit without incl_vat keeps the
  session's own VAT ratio).
* One tariff prices the whole session; a ChargingPeriod without ``tariff_id`` is priced with it
  too (2.1.1 has no such field); periods naming another tariff give TARIFF_ID_MISMATCH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from engine.frozen import frozen
from engine.money import HUNDRED, fmt, line_net, round_amount, to_decimal
from engine.problems import Problem, join_path
from engine.pricing.restrictions import RESERVATION, RESERVATION_EXPIRES, Moment
from engine.pricing.result import (
    SUBTOTALS, TOTAL_OF, Adjustment, Amount, Component, Difference, PriceResult,
)
from engine.pricing.segments import (
    ADDITIVE, CHARGING, ENERGY, PARKING_TIME, RESERVATION_TIME, TIME, Segment, as_utc, split_periods,
    uncut_periods,
)
from engine.pricing.step_size import StepInput, apply_step_sizes
from engine.pricing.tariff import (
    FLAT, MOMENT_NEEDED, Boundaries, PriceComponent, Tariff, TariffElement, parse_tariff_cached,
)
from engine.pricing.timezone import resolve_zone
from engine.pricing.vat import vat_and_shares

ZERO = Decimal(0)
_CENTS = Decimal("0.00")  # where money sums start (the exponent of an empty sum)
RESERVATION_FLAT = "RESERVATION_FLAT"
_VOLUME_QUANTUM = Decimal("1e-12")
# Order of components that become active at the same instant.
_DIMENSION_ORDER = {RESERVATION_FLAT: 0, RESERVATION_TIME: 1, FLAT: 2, ENERGY: 3, TIME: 4, PARKING_TIME: 5}
_FLATS = (FLAT, RESERVATION_FLAT)
# The additive dimensions price_periods prices, in its order: (dimension, priced as, reservation?)
_PRICED = ((RESERVATION_TIME, TIME, True), (ENERGY, ENERGY, False), (TIME, TIME, False),
           (PARKING_TIME, PARKING_TIME, False))


class PricingError(ValueError):
    """The CDR cannot be priced at all (no tariff, no periods, no session times)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems if p.is_error) or "cannot price")


@frozen
class PricedSlice:
    """One dimension of one segment, priced by one component (before step_size)."""

    segment: Segment
    dimension: str               # ENERGY | TIME | PARKING_TIME | RESERVATION_TIME | FLAT | RESERVATION_FLAT
    volume: Decimal              # kWh, hours, or 1 for a flat fee
    element: TariffElement
    component: PriceComponent
    tariff_id: str | None

    @property
    def key(self) -> tuple[str, str | None, int, int]:
        return (self.dimension, self.tariff_id, self.element.index, self.component.index)

    @property
    def exact_excl_vat(self) -> Decimal:
        return self.volume * self.component.price


@frozen
class PricedSession:
    """The lower-level result: segments, the slice each dimension was priced with, and the
    volumes no element priced (free by OCPI's rule)."""

    segments: tuple[Segment, ...]
    slices: tuple[PricedSlice, ...]
    unpriced: dict[str, Decimal] = field(default_factory=dict)
    reservation: str | None = None           # None | RESERVATION | RESERVATION_EXPIRES (expired)
    problems: tuple[Problem, ...] = ()


# --------------------------------------------------------------------------- tariff choice

def select_tariff(cdr: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The CDR's embedded tariff to use, and its JSON path.

    Several tariffs: the one whose id the charging periods reference (the first period that has
    a ``tariff_id`` found among them), else the first.
    """
    tariffs = [t for t in (cdr.get("tariffs") or []) if isinstance(t, dict)]
    if not tariffs:
        return None, "tariffs"
    for period in cdr.get("charging_periods") or []:
        wanted = period.get("tariff_id") if isinstance(period, dict) else None
        if wanted is None:
            continue
        for i, t in enumerate(cdr.get("tariffs") or []):
            if isinstance(t, dict) and str(t.get("id")) == str(wanted):
                return t, join_path("tariffs", i)
    first = next(i for i, t in enumerate(cdr.get("tariffs")) if isinstance(t, dict))
    return tariffs[0], join_path("tariffs", first)


# --------------------------------------------------------------------------- lower level

def price_periods(cdr: dict[str, Any], tariff: Tariff, zone: ZoneInfo,
                  boundaries: Boundaries | None = None) -> PricedSession:
    """Split the CDR's periods at the tariff's boundaries and price each dimension of each
    segment with the first matching element; add the FLAT fees. No step_size, no money.

    ``boundaries`` adds cut points of the caller's own (they are merged with the tariff's).
    """
    segments, slices, unpriced, res_kind, problems = _price_segments(cdr, tariff, zone, boundaries)
    return PricedSession(tuple(segments), tuple(PricedSlice(seg, dim, volume, element, pc, tariff.id)
                                                for dim, volume, (element, pc), seg in slices),
                         unpriced, res_kind, tuple(problems))


# A priced slice as pricing passes it on: (dimension, volume, (element, component), where), where
# ``where`` is the Segment (or the uncut _Period) whose ``start`` the slice begins at.
_Slice = tuple[str, Decimal, tuple[TariffElement, PriceComponent], Any]


def _price_segments(cdr: dict[str, Any], tariff: Tariff, zone: ZoneInfo, boundaries: Boundaries | None
                    ) -> tuple[list[Segment], list[_Slice], dict[str, Decimal], str | None, list[Problem]]:
    """``price_periods``' work with the slices as plain tuples: (segments, slices, unpriced
    volumes, reservation kind, problems); ``try_price_cdr`` needs no PricedSlice objects."""
    problems: list[Problem] = []
    b = tariff.boundaries() if boundaries is None else tariff.boundaries() | boundaries
    segments, sp = split_periods(cdr, zone, b)
    problems.extend(sp)
    has_reservation = any(s.is_reservation for s in segments)
    has_charging = any(s.has_charging for s in segments)
    expired = has_reservation and not has_charging
    res_kind = RESERVATION_EXPIRES if expired else (RESERVATION if has_reservation else None)

    slices: list[_Slice] = []
    unpriced: dict[str, Decimal] = {}
    missing_reported: set[str] = set()
    first_reservation = next((s for s in segments if s.is_reservation), None)
    # only a tariff restricting on current or power can lack the data for it (_note_missing_data)
    electrical = tariff.restricts_electrically
    first_charging = None if expired else next((s for s in segments if not s.is_reservation or s.has_charging),
                                                segments[0] if segments else None)

    for seg in segments:
        if seg is first_reservation:
            _flat(tariff, seg, res_kind, RESERVATION_FLAT, slices)
        if seg is first_charging:
            _flat(tariff, seg, None, FLAT, slices)
        moments: dict[str | None, Moment] = {}  # a segment's moment per kind, made once if needed
        volumes = seg.volumes
        for dim, priced_as, reserved in _PRICED:
            volume = volumes.get(dim)  # (== seg.volume(dim), without the call)
            if volume is None or volume == 0:
                continue
            kind = res_kind if reserved else None
            hit = _select(tariff, priced_as, seg, kind, moments)
            if electrical:
                _note_missing_data(tariff, seg, priced_as, kind, missing_reported, problems)
            if hit is None:
                unpriced[dim] = unpriced.get(dim, ZERO) + volume
                continue
            slices.append((dim, volume, hit, seg))
    unpriced = {d: v.quantize(_VOLUME_QUANTUM) for d, v in unpriced.items()}
    return segments, slices, unpriced, res_kind, problems


def _select(tariff: Tariff, dimension: str, seg: Segment, kind: str | None,
            moments: dict[str | None, Moment]) -> tuple[TariffElement, PriceComponent] | None:
    """``tariff.select`` at the segment's moment of ``kind``; the moment is only made (once per
    kind, kept in ``moments``) when the tariff's answer depends on it."""
    hit = tariff.select_for_kind(dimension, kind)
    if hit is MOMENT_NEEDED:
        moment = moments.get(kind)
        if moment is None:
            moment = moments[kind] = seg.moment(kind)
        hit = tariff.select(dimension, moment)
    return hit  # type: ignore[return-value]


def _flat(tariff: Tariff, seg: Segment, kind: str | None, dimension: str, slices: list[_Slice]) -> None:
    """FLAT: once, from the first element whose restrictions hold at the (reservation's or
    charging session's) start; the moment is that of its first segment."""
    hit = _select(tariff, FLAT, seg, kind, {})
    if hit is not None:
        slices.append((dimension, Decimal(1), hit, seg))


def _note_missing_data(tariff: Tariff, seg: Segment, dimension: str, kind: str | None, reported: set[str],
                       problems: list[Problem]) -> None:
    """Warn once when an element for this dimension restricts on current/power the CDR lacks."""
    for element in tariff.candidates(kind):
        if element.component(dimension) is None:
            continue
        r = element.restrictions
        for what, used, values in (("current", r.uses_current, (seg.min_current, seg.max_current)),
                                   ("power", r.uses_power, (seg.min_power, seg.max_power))):
            if used and all(v is None for v in values) and what not in reported:
                reported.add(what)
                problems.append(Problem(
                    "RESTRICTION_DATA_MISSING",
                    f"the tariff restricts on {what} but charging period {seg.period_index} gives none: "
                    f"those elements were treated as not matching",
                    path=join_path("charging_periods", seg.period_index), severity="warning"))


# --------------------------------------------------------------------------- the engine

def price_cdr(cdr: dict[str, Any], tariff: dict[str, Any] | None = None, *, tz: str | None = None,
              location_tz: str | None = None, tolerance: Decimal = Decimal("0.01")) -> PriceResult:
    """Price a normalised CDR; raises ``PricingError`` (with ``.problems``) when it cannot."""
    result, problems = try_price_cdr(cdr, tariff, tz=tz, location_tz=location_tz, tolerance=tolerance)
    if result is None:
        raise PricingError(problems)
    return result


def try_price_cdr(cdr: dict[str, Any], tariff: dict[str, Any] | None = None, *, tz: str | None = None,
                  location_tz: str | None = None, tolerance: Decimal = Decimal("0.01")
                  ) -> tuple[PriceResult | None, list[Problem]]:
    """Like ``price_cdr`` but errors as data: ``(result, problems)``, result None on errors."""
    problems: list[Problem] = []
    if not isinstance(cdr, dict):
        return None, [Problem("INVALID_CDR", "the CDR is not an object")]
    try:
        start = as_utc(cdr.get("start_date_time"), "start_date_time")
        end = as_utc(cdr.get("end_date_time"), "end_date_time")
    except ValueError as exc:
        return None, [Problem("MISSING_SESSION_TIMES", str(exc), path="start_date_time")]
    if not cdr.get("charging_periods"):
        return None, [Problem("NO_CHARGING_PERIODS", "the CDR has no charging periods", path="charging_periods")]

    path = "tariff"
    if tariff is None:
        tariff, path = select_tariff(cdr)
        if tariff is None:
            return None, [Problem("NO_TARIFF", "no tariff given and the CDR embeds none", path="tariffs")]
    elif not isinstance(tariff, dict):
        return None, [Problem("NO_TARIFF", "the tariff is not an object", path="tariff")]
    parsed, tp = parse_tariff_cached(tariff, path)
    problems.extend(tp)
    if not parsed.elements:
        problems.append(Problem("NO_TARIFF", "the tariff has no usable elements", path=join_path(path, "elements")))
        return None, problems

    country = (cdr.get("cdr_location") or {}).get("country") if isinstance(cdr.get("cdr_location"), dict) else None
    choice = resolve_zone(tz, location_tz, country)
    problems.extend(choice.problems)
    problems.extend(_tariff_checks(cdr, parsed, path, start))

    uncut = _price_uncut(cdr, parsed, start, end) if parsed.prices_by_kind else None
    if uncut is not None:
        components, volumes_of, found = uncut
        problems.extend(found)
    else:
        segments, slices, _, _, found = _price_segments(cdr, parsed, choice.zone, None)
        problems.extend(found)
        if not segments:
            problems.append(Problem("NO_CHARGING_PERIODS", "the CDR has no usable charging periods",
                                    path="charging_periods"))
            return None, problems
        components = _lines_of(slices, parsed.id)
        volumes_of = [s.volumes for s in segments]
    totals, vat, exact = _money(components)
    components = totals.pop("_components")  # with their VAT shares
    currency = str(cdr.get("currency") or parsed.currency or "") or None
    total = totals.pop("total_cost")
    clamped, adjustment, exact_clamped = _clamp(total, exact, parsed, problems)

    volumes = _session_volumes(volumes_of)
    difference = _difference(cdr, clamped, exact_clamped, tolerance, problems)
    result = PriceResult(  # (positional, in field order: SUBTOTALS are the sub-total fields, in order)
        currency, parsed.id, choice.name, choice.source, clamped, *[totals[name] for name in SUBTOTALS],
        tuple(components), tuple(vat), adjustment, exact_clamped, volumes, tuple(problems), difference)
    return result, problems


def _session_volumes(volumes_of: list[dict[str, Decimal]]) -> dict[str, Decimal]:
    """The session's volume per additive dimension (from the volumes of each segment, in time
    order); ENERGY and TIME always, the others when not 0.

    Summed from Decimal(0) in the caller's (default, 28-digit) context, one dimension after the
    other. A segment without the dimension is skipped rather than adding Decimal(0): a sum that
    starts from Decimal(0) has an exponent <= 0 and is never -0, so adding 0 would not change
    it; a dimension no segment has is 0 and left out (or 0E-12 for ENERGY and TIME, as before).
    """
    volumes: dict[str, Decimal] = {}
    for d in ADDITIVE:
        total = ZERO
        for seg_volumes in volumes_of:
            v = seg_volumes.get(d)
            if v is not None:
                total = total + v
        total = total.quantize(_VOLUME_QUANTUM)
        if total != 0 or d in (ENERGY, TIME):
            volumes[d] = total
    return volumes


def _tariff_checks(cdr: dict[str, Any], tariff: Tariff, path: str, start: datetime) -> list[Problem]:
    out: list[Problem] = []
    currency = cdr.get("currency")
    if currency and tariff.currency and str(currency).upper() != tariff.currency:
        out.append(Problem("CURRENCY_MISMATCH", f"the tariff is in {tariff.currency}, the CDR in {currency}",
                           path=join_path(path, "currency"), severity="warning"))
    if tariff.start_date_time and start < tariff.start_date_time:
        out.append(Problem("TARIFF_NOT_ACTIVE", "the session started before the tariff's start_date_time",
                           path=join_path(path, "start_date_time"), severity="warning"))
    if tariff.end_date_time and start >= tariff.end_date_time:
        out.append(Problem("TARIFF_NOT_ACTIVE", "the session started after the tariff's end_date_time",
                           path=join_path(path, "end_date_time"), severity="warning"))
    others = sorted({str(p.get("tariff_id")) for p in cdr.get("charging_periods") or []
                     if isinstance(p, dict) and p.get("tariff_id") is not None} - {tariff.id})
    if others and tariff.id is not None:
        out.append(Problem("TARIFF_ID_MISMATCH",
                           f"charging periods reference tariff(s) {', '.join(others)}; all priced with {tariff.id}",
                           path="charging_periods", severity="warning"))
    return out


@dataclass
class _Line:
    dimension: str
    element: TariffElement
    component: PriceComponent
    tariff_id: str | None
    period_start: datetime
    volume: Decimal = ZERO
    extra: Decimal = ZERO


def _lines_of(slices: list[_Slice], tariff_id: str | None) -> list[_Line]:
    """One line per price component used, its volume summed over the session's slices (in
    the caller's context), the step_size extra added, in the order the components begin."""
    lines: dict[tuple, _Line] = {}
    stepped: list[StepInput] = []  # the slices step_size applies to, in time order
    for dim, volume, (element, pc), where in slices:
        _add_slice(lines, stepped, dim, volume, element, pc, tariff_id, where.start)
    return _stepped_in_order(lines, stepped)


def _add_slice(lines: dict[tuple, _Line], stepped: list[StepInput], dimension: str, volume: Decimal,
               element: TariffElement, component: PriceComponent, tariff_id: str | None, start: datetime) -> None:
    """A priced slice (as ``PricedSlice`` holds it) into its line and, unless flat, the step inputs."""
    key = (dimension, tariff_id, element.index, component.index)  # (== PricedSlice.key)
    line = lines.get(key)
    if line is None:
        line = lines[key] = _Line(dimension, element, component, tariff_id, start)
    line.volume += volume
    if dimension not in _FLATS:
        stepped.append(StepInput(key, dimension, volume, component.step_size))


def _stepped_in_order(lines: dict[tuple, _Line], stepped: list[StepInput]) -> list[_Line]:
    """The lines with their step_size extras, ordered by when they begin (then by dimension)."""
    for step in apply_step_sizes(stepped):
        lines[step.key].extra += step.extra
    ordered = sorted(lines.values(), key=lambda ln: (ln.period_start, _DIMENSION_ORDER[ln.dimension]))
    return ordered


def _price_uncut(cdr: dict[str, Any], tariff: Tariff, cdr_start: datetime, cdr_end: datetime
                 ) -> tuple[list[_Line], list[dict[str, Decimal]], list[Problem]] | None:
    """``_lines_of`` the slices of ``_price_segments`` for a tariff that ``prices_by_kind``,
    without segments or moments: (lines, volumes of each segment, problems), or None to leave
    the CDR to the general path (``uncut_periods`` says when).

    Why the lines are exactly the general path's: with no boundary every period is one
    segment, with the volumes ``uncut_periods`` gives; the reservation kind, the segments that
    take the RESERVATION_FLAT and the FLAT, and the element of every dimension are chosen by
    the same rules as ``_price_segments`` (the element by ``select_for_kind``, which is all
    ``_select`` asks when no answer needs a moment); the slices reach ``_lines_of`` in the same
    order with the same values (the period in place of its one segment: the same ``start``),
    so the sums, the step_size extras and the order are the same. Volumes no element prices
    are only summed and rounded as ``_price_segments`` does (that can raise); the lines do not
    use them.
    """
    uncut = uncut_periods(cdr, cdr_start, cdr_end)
    if uncut is None:
        return None
    periods, volumes_of, problems = uncut
    reserved = [v.get(RESERVATION_TIME, ZERO) != 0 for v in volumes_of]  # Segment.is_reservation
    res_kind = first_reservation = None
    first_charging = 0  # without a reservation: the first segment (none is a reservation)
    if True in reserved:
        charging = [any(v.get(d, ZERO) != 0 for d in CHARGING) for v in volumes_of]  # Segment.has_charging
        expired = not any(charging)
        res_kind = RESERVATION_EXPIRES if expired else RESERVATION
        first_reservation = reserved.index(True)
        first_charging = None if expired else next(i for i in range(len(periods)) if not reserved[i] or charging[i])
    slices: list[_Slice] = []
    unpriced: dict[str, Decimal] = {}
    select = tariff.select_for_kind
    for i, (period, volumes) in enumerate(zip(periods, volumes_of)):
        for flat, kind, first in ((RESERVATION_FLAT, res_kind, first_reservation), (FLAT, None, first_charging)):
            if i == first and (hit := select(FLAT, kind)) is not None:
                slices.append((flat, Decimal(1), hit, period))
        for dim, priced_as, is_reservation in _PRICED:
            volume = volumes.get(dim)
            if volume is None or volume == 0:
                continue
            hit = select(priced_as, res_kind if is_reservation else None)
            if hit is None:
                unpriced[dim] = unpriced.get(dim, ZERO) + volume
            else:
                slices.append((dim, volume, hit, period))
    for volume in unpriced.values():  # (unused, but price_periods' rounding of it can raise)
        volume.quantize(_VOLUME_QUANTUM)
    return _lines_of(slices, tariff.id), volumes_of, problems


def _money(lines: list[_Line]) -> tuple[dict[str, Any], list, Amount]:
    with localcontext() as ctx:
        ctx.prec = 50
        priced = []
        for ln in lines:
            volume = ln.volume.quantize(_VOLUME_QUANTUM) if ln.dimension not in (FLAT, RESERVATION_FLAT) else ln.volume
            billed = (ln.volume + ln.extra).quantize(_VOLUME_QUANTUM) if ln.extra else volume
            price = ln.component.price
            rate = ln.component.vat
            exact_excl = billed * price
            exact_incl = exact_excl * (1 + rate / HUNDRED) if rate is not None else exact_excl
            priced.append((ln, volume, billed, line_net(billed, price), exact_excl, exact_incl))
        nets = [(net, ln.component.vat) for ln, _, _, net, _, _ in priced]
        vat, shares = vat_and_shares(nets)
        components = [  # (positional, in field order: cheaper than keywords)
            Component(ln.dimension, volume, billed, ln.component.price, ln.component.step_size, net, net + share,
                      ln.component.vat, ln.element.index, ln.tariff_id, ln.period_start, exact_excl, exact_incl,
                      ln.component.index)
            for (ln, volume, billed, net, exact_excl, exact_incl), share in zip(priced, shares)
        ]
        excl = sum([c.excl_vat for c in components], _CENTS)
        incl = excl + sum([v.vat for v in vat], _CENTS)
        totals: dict[str, Any] = {"total_cost": Amount(round_amount(excl), round_amount(incl))}
        by_total: dict[str, list[Component]] = {}  # in component order, as the sums were
        for c in components:
            by_total.setdefault(TOTAL_OF[c.dimension], []).append(c)
        for name in SUBTOTALS:
            mine = by_total.get(name)
            totals[name] = (Amount(sum([c.excl_vat for c in mine], _CENTS),
                                   sum([c.incl_vat for c in mine], _CENTS)) if mine else None)
        exact = Amount(sum((c.exact_excl_vat for c in components), ZERO),
                       sum((c.exact_incl_vat for c in components), ZERO))
        totals["_components"] = components
    return totals, vat, exact


def _clamp(total: Amount, exact: Amount, tariff: Tariff, problems: list[Problem]
           ) -> tuple[Amount, Adjustment | None, Amount]:
    """(total, adjustment, exact total) after the tariff's min_price/max_price.

    A tariff without either gives back ``total`` and ``exact`` as they are: the general steps
    would leave every amount unchanged and round ``total``'s again, and rounding an amount
    ``_money`` already rounded (2 dp, at most 34 digits) gives the same digits and exponent."""
    if tariff.min_price is None and tariff.max_price is None:
        return total, None, exact
    kinds: list[str] = []

    def clamp(excl: Decimal, incl: Decimal, note: bool) -> tuple[Decimal, Decimal]:
        new_excl, new_incl = excl, incl
        for kind, limit, pick in (("MIN_PRICE", tariff.min_price, max), ("MAX_PRICE", tariff.max_price, min)):
            if limit is None:
                continue
            excl_after = pick(new_excl, limit.excl_vat)
            if limit.incl_vat is not None:
                incl_after = pick(new_incl, limit.incl_vat)
            elif excl_after == new_excl:
                incl_after = new_incl
            else:  # no incl. VAT limit given: keep the session's own VAT ratio
                with localcontext() as ctx:
                    ctx.prec = 50
                    incl_after = new_incl * excl_after / new_excl if new_excl else excl_after
            if (excl_after, incl_after) != (new_excl, new_incl) and note:
                kinds.append(kind)
            new_excl, new_incl = excl_after, incl_after
        return new_excl, new_incl

    excl, incl = clamp(total.excl_vat, total.incl_vat, True)
    exact_excl, exact_incl = clamp(exact.excl_vat, exact.incl_vat, False)
    clamped = Amount(round_amount(excl), round_amount(incl))
    if not kinds:
        return clamped, None, Amount(exact_excl, exact_incl)
    kind = "+".join(kinds)
    adjustment = Adjustment(kind, clamped.excl_vat - total.excl_vat, clamped.incl_vat - total.incl_vat)
    problems.append(Problem("PRICE_CLAMPED", f"the tariff's {kind.lower().replace('+', ' and ')} applied",
                            path="tariff", severity="info",
                            extra={"adjustment": adjustment.to_json()}))
    return clamped, adjustment, Amount(exact_excl, exact_incl)


def _difference(cdr: dict[str, Any], total: Amount, exact: Amount, tolerance: Decimal,
                problems: list[Problem]) -> Difference | None:
    given = cdr.get("total_cost")
    if given is None:
        return None
    try:
        if isinstance(given, dict):
            cdr_excl = to_decimal(given.get("excl_vat"), field="total_cost.excl_vat")
            cdr_incl = to_decimal(given["incl_vat"], field="total_cost.incl_vat") \
                if given.get("incl_vat") is not None else None
        else:  # 2.1.1: a plain number excluding VAT
            cdr_excl, cdr_incl = to_decimal(given, field="total_cost"), None
    except (TypeError, ValueError) as exc:
        problems.append(Problem("INVALID_TOTAL_COST", f"{exc}; no comparison made", path="total_cost",
                                severity="warning"))
        return None
    recomputed = Amount(round_amount(exact.excl_vat), round_amount(exact.incl_vat))
    d_excl = recomputed.excl_vat - cdr_excl
    d_incl = recomputed.incl_vat - cdr_incl if cdr_incl is not None else None
    b_excl = total.excl_vat - cdr_excl
    b_incl = total.incl_vat - cdr_incl if cdr_incl is not None else None

    def within(*values: Decimal | None) -> bool:
        return all(abs(v) <= tolerance for v in values if v is not None)

    ok = within(d_excl, d_incl) or within(b_excl, b_incl)
    diff = Difference(cdr_excl, cdr_incl, recomputed, d_excl, d_incl, b_excl, b_incl, tolerance, ok)
    if not (d_excl == 0 and not d_incl and b_excl == 0 and not b_incl):
        problems.append(Problem(
            "TOTAL_COST_DIFFERENCE" if ok else "TOTAL_COST_MISMATCH",
            f"recomputed {fmt(recomputed.excl_vat)}/{fmt(recomputed.incl_vat)} vs the CDR's "
            f"{fmt(cdr_excl)}/{fmt(cdr_incl) or '-'} (difference {fmt(d_excl)}/{fmt(d_incl) or '-'}; "
            f"billed total {fmt(total.excl_vat)}/{fmt(total.incl_vat)})",
            path="total_cost", severity="info" if ok else "warning",
            extra={"difference": diff.to_json()}))
    return diff
