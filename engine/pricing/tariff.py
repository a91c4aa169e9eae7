"""The Tariff model and OCPI's element-selection rule.

"When the list of Tariff Elements contains more than one Element that has a Price Component for
a certain dimension, then the first Tariff Element with a Price Component for that dimension in
the list with matching Tariff Restrictions will be used" (mod_tariffs, Tariff object). No match:
that dimension is free at that moment.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import field
from datetime import datetime, time
from decimal import Decimal
from typing import Any, Callable, Iterable

from engine.frozen import frozen
from engine.money import to_decimal
from engine.problems import Problem, join_path
from engine.pricing.restrictions import (
    END_OF_DAY, RESERVATION, RESERVATION_EXPIRES, Moment, Restrictions, parse_restrictions,
)

ENERGY, TIME, PARKING_TIME, FLAT = "ENERGY", "TIME", "PARKING_TIME", "FLAT"
TARIFF_DIMENSIONS = (ENERGY, FLAT, PARKING_TIME, TIME)
MOMENT_NEEDED = object()  # Tariff.select_for_kind: the answer depends on the moment's values
_UNKNOWN = object()


@frozen
class PriceComponent:
    type: str
    price: Decimal           # per kWh / per hour / per session, excl. VAT
    vat: Decimal | None      # percentage; None = no VAT applicable (not the same as 0)
    step_size: int           # Wh for ENERGY, seconds for TIME/PARKING_TIME; unused for FLAT
    index: int               # position within the element's price_components


@frozen
class TariffElement:
    index: int
    components: tuple[PriceComponent, ...]
    restrictions: Restrictions = field(default_factory=Restrictions)

    def component(self, dimension: str) -> PriceComponent | None:
        for pc in self.components:
            if pc.type == dimension:
                return pc
        return None


@frozen
class PriceLimit:
    excl_vat: Decimal
    incl_vat: Decimal | None


@frozen
class Boundaries:
    """Where a restriction can change its answer inside a charging period.

    ``times_of_day`` are local wall-clock times (00:00 = midnight, also the date change),
    ``kwh`` are energy-so-far thresholds, ``seconds`` are durations since the session start.
    """

    times_of_day: frozenset[time] = frozenset()
    kwh: frozenset[Decimal] = frozenset()
    seconds: frozenset[Decimal] = frozenset()

    def __or__(self, other: "Boundaries") -> "Boundaries":
        return Boundaries(self.times_of_day | other.times_of_day, self.kwh | other.kwh,
                          self.seconds | other.seconds)

    @classmethod
    def of(cls, times_of_day: Iterable[str | time] = (), kwh: Iterable[Any] = (),
           seconds: Iterable[Any] = ()) -> "Boundaries":
        """Convenience constructor: ``Boundaries.of(["07:00", "22:00"], kwh=[20])``."""
        from engine.pricing.restrictions import parse_time

        tod = {t if isinstance(t, time) else parse_time(t) for t in times_of_day}
        return cls(frozenset(tod), frozenset(to_decimal(k) for k in kwh),
                   frozenset(to_decimal(s) for s in seconds))


@frozen
class Tariff:
    id: str | None
    currency: str | None
    elements: tuple[TariffElement, ...]
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None

    def _memo(self, name: str, make: Callable[[], Any]) -> Any:
        """Data derived from the (frozen) tariff, worked out once per instance: a tariff from
        ``parse_tariff_cached`` serves every CDR priced with it. Kept in the instance dict, not a
        field, so frozen stays true; two threads racing here only compute the same value twice."""
        value = self.__dict__.get(name)
        if value is None:
            value = make()
            object.__setattr__(self, name, value)
        return value

    def boundaries(self) -> Boundaries:
        return self._memo("_boundaries", self._boundaries)

    def _boundaries(self) -> Boundaries:
        times: set[time] = set()
        kwh: set[Decimal] = set()
        seconds: set[Decimal] = set()
        for el in self.elements:
            r = el.restrictions
            if r.uses_wall_clock:
                times.add(END_OF_DAY)  # midnight: the date and the weekday change
            for t in (r.start_time, r.end_time):
                if t is not None:
                    times.add(t)
            kwh.update(v for v in (r.min_kwh, r.max_kwh) if v is not None)
            seconds.update(v for v in (r.min_duration, r.max_duration) if v is not None)
        return Boundaries(frozenset(times), frozenset(kwh), frozenset(seconds))

    def candidates(self, reservation: str | None) -> list[TariffElement]:
        """Elements in the order they are tried for a moment of the given kind.

        For an expired reservation the RESERVATION_EXPIRES elements come first: "the time based
        cost of an expired reservation will be calculated based on the RESERVATION_EXPIRES
        Tariff Element" (ReservationRestrictionType note), then the RESERVATION ones.
        """
        known = self._memo("_candidates_by_kind", lambda: {  # asked per segment and dimension
            kind: tuple(self._candidates(kind)) for kind in (None, RESERVATION, RESERVATION_EXPIRES)})
        order = known.get(reservation)
        return list(order) if order is not None else self._candidates(reservation)

    def _candidates(self, reservation: str | None) -> list[TariffElement]:
        if reservation == RESERVATION_EXPIRES:
            first = [e for e in self.elements if e.restrictions.reservation == RESERVATION_EXPIRES]
            return first + [e for e in self.elements if e.restrictions.reservation == RESERVATION]
        if reservation == RESERVATION:
            return [e for e in self.elements if e.restrictions.reservation == RESERVATION]
        return [e for e in self.elements if e.restrictions.reservation is None]

    def select(self, dimension: str, moment: Moment) -> tuple[TariffElement, PriceComponent] | None:
        """The first element with a component of ``dimension`` whose restrictions hold."""
        known = self.select_for_kind(dimension, moment.reservation)
        if known is not MOMENT_NEEDED:
            return known
        for hit in self._offers(moment.reservation, dimension):
            if hit[0].restrictions.holds(moment):
                return hit
        return None

    def select_for_kind(self, dimension: str, reservation: str | None
                        ) -> tuple[TariffElement, PriceComponent] | None | object:
        """``select``'s answer at every moment of the kind (see ``Restrictions.holds_for_kind``),
        or ``MOMENT_NEEDED`` when some element's restrictions look at the moment's values.

        Most tariffs price a dimension with an unrestricted element: then no segment needs a
        ``Moment`` for it. Worked out once per (kind, dimension)."""
        known = self._memo("_select_by_kind", dict)
        answer = known.get((reservation, dimension), _UNKNOWN)
        if answer is _UNKNOWN:
            answer = None
            for hit in self._offers(reservation, dimension):
                holds = hit[0].restrictions.holds_for_kind(reservation)
                if holds is None:
                    answer = MOMENT_NEEDED
                    break
                if holds:
                    answer = hit
                    break
            known[(reservation, dimension)] = answer
        return answer

    def _offers(self, reservation: str | None, dimension: str) -> tuple[tuple[TariffElement, PriceComponent], ...]:
        """The (element, component) pairs ``select`` tries, in order: the candidates that price
        ``dimension``; the same for every segment, so listed once per (kind, dimension)."""
        known = self._memo("_offers_by_kind", dict)
        offers = known.get((reservation, dimension))
        if offers is None:
            offers = known[(reservation, dimension)] = tuple(
                (e, pc) for e in self.candidates(reservation) if (pc := e.component(dimension)) is not None)
        return offers

    @property
    def prices_by_kind(self) -> bool:
        """Whether every segment of a session is priced by its kind alone: no boundary to cut a
        period at, no dimension whose element depends on the moment (``select_for_kind``), no
        current/power restriction to warn about. Then pricing needs no segments and no moments
        (``price._price_uncut``)."""
        return self._memo("_by_kind", self._prices_by_kind)

    def _prices_by_kind(self) -> bool:
        b = self.boundaries()
        if b.times_of_day or b.kwh or b.seconds or self.restricts_electrically:
            return False
        return all(self.select_for_kind(dimension, kind) is not MOMENT_NEEDED
                   for kind in (None, RESERVATION, RESERVATION_EXPIRES) for dimension in TARIFF_DIMENSIONS)

    def uses(self, predicate) -> bool:
        return any(predicate(e.restrictions) for e in self.elements)

    @property
    def restricts_electrically(self) -> bool:
        """Whether an element restricts on current or power (only then can a CDR lack the data)."""
        return self._memo("_electrical", lambda: self.uses(lambda r: r.uses_current or r.uses_power))


def _price_limit(raw: Any, path: str, problems: list[Problem]) -> PriceLimit | None:
    if raw is None:
        return None
    try:
        if isinstance(raw, dict):
            excl = to_decimal(raw.get("excl_vat"), field="excl_vat")
            incl = raw.get("incl_vat")
            return PriceLimit(excl, to_decimal(incl, field="incl_vat") if incl is not None else None)
        return PriceLimit(to_decimal(raw), None)  # 2.1.1-style plain number
    except (TypeError, ValueError) as exc:
        problems.append(Problem("INVALID_TARIFF", f"{exc}; limit ignored", path=path, severity="warning"))
        return None


def parse_tariff(raw: dict[str, Any], path: str = "tariff") -> tuple[Tariff, list[Problem]]:
    """A normalised OCPI 2.2.1 Tariff dict to ``Tariff``; unusable parts become warnings.

    Reads only the fields in ``_PARSED_FIELDS``: they are the key of ``parse_tariff_cached``, so a
    field read here and missing there would let two different tariffs share one parse."""
    problems: list[Problem] = []
    elements: list[TariffElement] = []
    for i, el in enumerate(raw.get("elements") or []):
        epath = join_path(join_path(path, "elements"), i)
        if not isinstance(el, dict):
            problems.append(Problem("INVALID_TARIFF", "element is not an object", path=epath, severity="warning"))
            continue
        restrictions, rp = parse_restrictions(el.get("restrictions"), join_path(epath, "restrictions"))
        problems.extend(rp)
        components: list[PriceComponent] = []
        for j, pc in enumerate(el.get("price_components") or []):
            ppath = join_path(join_path(epath, "price_components"), j)
            parsed = _component(pc, j, ppath, problems)
            if parsed is not None:
                components.append(parsed)
        elements.append(TariffElement(i, tuple(components), restrictions))
    if not elements:
        problems.append(Problem("TARIFF_WITHOUT_ELEMENTS", "the tariff has no usable elements",
                                path=join_path(path, "elements"), severity="warning"))
    tariff = Tariff(
        id=str(raw["id"]) if raw.get("id") is not None else None,
        currency=str(raw["currency"]).upper() if raw.get("currency") else None,
        elements=tuple(elements),
        min_price=_price_limit(raw.get("min_price"), join_path(path, "min_price"), problems),
        max_price=_price_limit(raw.get("max_price"), join_path(path, "max_price"), problems),
        start_date_time=raw.get("start_date_time") if isinstance(raw.get("start_date_time"), datetime) else None,
        end_date_time=raw.get("end_date_time") if isinstance(raw.get("end_date_time"), datetime) else None,
    )
    return tariff, problems


# --------------------------------------------------------------------------- the parse cache

# Fields of a tariff that ``parse_tariff`` reads: only they go into the cache key.
_PARSED_FIELDS = ("id", "currency", "elements", "min_price", "max_price", "start_date_time", "end_date_time")
_CACHE_SIZE = 256
_cache: OrderedDict[str, tuple[Tariff, tuple[Problem, ...]]] = OrderedDict()
_cache_lock = threading.Lock()


def _content_key(raw: dict[str, Any], path: str) -> str:
    """The identity of what ``parse_tariff`` would read: ``repr`` of the fields it uses.

    ``repr`` of the values intake produces (str, int, bool, None, Decimal, float, dates, lists,
    dicts) tells their types and exact spelling apart (``Decimal('6.0')`` vs ``Decimal('6.00')``
    vs ``'6.0'``), so equal keys parse to equal tariffs; keys in another order only miss. The
    tariff's alt texts and energy mix are left out: they are the bulk and are not parsed.
    """
    return repr((path, *[raw.get(name) for name in _PARSED_FIELDS]))


def parse_tariff_cached(raw: dict[str, Any], path: str = "tariff") -> tuple[Tariff, list[Problem]]:
    """``parse_tariff``, remembered for the most recent tariffs by content.

    Every ad-hoc CDR embeds its tariff, so the same few tariffs are parsed again and again; the
    shared ``Tariff`` also keeps what is derived from it (``_memo``). Keyed by content, never by
    id: a changed tariff under the same id is a new key. Bounded (LRU); the lock makes the
    OrderedDict safe for the HTTP server's threads (a parse in two threads at once is harmless).
    """
    key = _content_key(raw, path)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        tariff, problems = parse_tariff(raw, path)
        hit = (tariff, tuple(problems))
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return hit[0], list(hit[1])


def _component(pc: Any, index: int, path: str, problems: list[Problem]) -> PriceComponent | None:
    if not isinstance(pc, dict):
        problems.append(Problem("INVALID_TARIFF", "price component is not an object", path=path, severity="warning"))
        return None
    kind = str(pc.get("type") or "").upper()
    if kind not in TARIFF_DIMENSIONS:
        problems.append(Problem("UNKNOWN_DIMENSION", f"price component type {pc.get('type')!r} ignored",
                                path=join_path(path, "type"), severity="warning"))
        return None
    try:
        price = to_decimal(pc.get("price"), field="price")
    except (TypeError, ValueError) as exc:
        problems.append(Problem("INVALID_TARIFF", f"{exc}; component ignored", path=join_path(path, "price"),
                                severity="warning"))
        return None
    vat = None
    if pc.get("vat") is not None:
        try:
            vat = to_decimal(pc["vat"], field="vat")
        except (TypeError, ValueError) as exc:
            problems.append(Problem("INVALID_TARIFF", f"{exc}; treated as no VAT", path=join_path(path, "vat"),
                                    severity="warning"))
        if vat is not None and Decimal(0) < vat < Decimal(1):
            problems.append(Problem(
                "VAT_LOOKS_LIKE_FRACTION",
                f"vat {vat} looks like a fraction; OCPI wants a percentage (used as given: {vat} %)",
                path=join_path(path, "vat"), severity="warning"))
    step = 1
    raw_step = pc.get("step_size")
    if kind == FLAT:  # no unit, no step; keep what was sent for display
        try:
            step = int(to_decimal(raw_step))
        except (TypeError, ValueError):
            step = 0
    else:
        try:
            step_dec = to_decimal(raw_step, field="step_size")
            if step_dec != step_dec.to_integral_value() or step_dec < 1:
                raise ValueError(f"step_size {raw_step!r} is not a positive integer")
            step = int(step_dec)
        except (TypeError, ValueError) as exc:
            problems.append(Problem("INVALID_STEP_SIZE", f"{exc}; 1 used", path=join_path(path, "step_size"),
                                    severity="warning"))
    return PriceComponent(kind, price, vat, step, index)
