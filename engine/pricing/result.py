"""What pricing returns: plain frozen dataclasses, Decimal inside, strings outside.

``to_json()`` renders every amount as a string with two decimals ("4.00"), quantities and unit
prices without losing digits, instants as RFC 3339 UTC with "Z", and ``null`` for a dimension
that did not occur in the session. ``negated()`` gives the mirror image for credit handling.
"""

from __future__ import annotations

from dataclasses import field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from engine.frozen import frozen
from engine.money import fmt, fmt_exact, round_unit_price
from engine.problems import Problem

DIMENSION_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "RESERVATION_TIME": "h",
                   "FLAT": "session", "RESERVATION_FLAT": "reservation"}
# Which CDR sub-total each component dimension belongs to.
TOTAL_OF = {"ENERGY": "total_energy_cost", "TIME": "total_time_cost", "PARKING_TIME": "total_parking_cost",
            "FLAT": "total_fixed_cost", "RESERVATION_TIME": "total_reservation_cost",
            "RESERVATION_FLAT": "total_reservation_cost"}
SUBTOTALS = ("total_energy_cost", "total_time_cost", "total_parking_cost", "total_fixed_cost",
             "total_reservation_cost")


def _instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _price(value: Decimal | None) -> str | None:
    """A unit price as a string: 2 to 4 decimals when that loses nothing, else every digit."""
    if value is None:
        return None
    rounded = round_unit_price(value)
    return str(rounded) if rounded == value else fmt_exact(value)


def _neg(value: Decimal | None) -> Decimal | None:
    return None if value is None else -value


@frozen
class Amount:
    """An OCPI Price: excl. and incl. VAT."""

    excl_vat: Decimal
    incl_vat: Decimal

    def negated(self) -> "Amount":
        return Amount(-self.excl_vat, -self.incl_vat)

    def __add__(self, other: "Amount") -> "Amount":
        return Amount(self.excl_vat + other.excl_vat, self.incl_vat + other.incl_vat)

    def to_json(self) -> dict[str, str | None]:
        return {"excl_vat": fmt(self.excl_vat), "incl_vat": fmt(self.incl_vat)}

    def to_exact_json(self) -> dict[str, str | None]:
        return {"excl_vat": fmt_exact(self.excl_vat), "incl_vat": fmt_exact(self.incl_vat)}


ZERO_AMOUNT = Amount(Decimal("0.00"), Decimal("0.00"))


@frozen
class Component:
    """One priced line: everything one price component of one element billed in the session.

    ``volume`` is what was consumed under this component, ``billed_volume`` adds the step_size
    round-up (only ever on the last relevant component of a dimension group). ``excl_vat`` is
    ``round(billed_volume x unit_price)``; ``incl_vat`` adds this line's share of the VAT that
    was computed once per rate on the summed nets (so lines add up to the totals).
    """

    dimension: str              # ENERGY | TIME | PARKING_TIME | FLAT | RESERVATION_TIME | RESERVATION_FLAT
    volume: Decimal
    billed_volume: Decimal
    unit_price: Decimal
    step_size: int
    excl_vat: Decimal
    incl_vat: Decimal
    vat_rate: Decimal | None    # percentage; None = no VAT applicable
    element_index: int
    tariff_id: str | None
    period_start: datetime      # first instant this component was active (UTC)
    exact_excl_vat: Decimal     # billed_volume x unit_price, unrounded
    exact_incl_vat: Decimal     # exact_excl_vat x (1 + vat/100), unrounded
    component_index: int = 0    # position within the element's price_components

    @property
    def unit(self) -> str:
        return DIMENSION_UNITS.get(self.dimension, "")

    @property
    def amount(self) -> Amount:
        return Amount(self.excl_vat, self.incl_vat)

    def negated(self) -> "Component":
        return replace(self, excl_vat=-self.excl_vat, incl_vat=-self.incl_vat,
                       exact_excl_vat=-self.exact_excl_vat, exact_incl_vat=-self.exact_incl_vat)

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "volume": fmt_exact(self.volume),
            "billed_volume": fmt_exact(self.billed_volume),
            "unit": self.unit,
            "unit_price": _price(self.unit_price),
            "step_size": self.step_size,
            "excl_vat": fmt(self.excl_vat),
            "incl_vat": fmt(self.incl_vat),
            "vat_rate": fmt_exact(self.vat_rate),
            "element_index": self.element_index,
            "component_index": self.component_index,
            "tariff_id": self.tariff_id,
            "period_start": _instant(self.period_start),
            "exact_excl_vat": fmt_exact(self.exact_excl_vat),
            "exact_incl_vat": fmt_exact(self.exact_incl_vat),
        }


@frozen
class VatLine:
    """VAT for one rate, computed once on the sum of the nets at that rate (BR-CO-17)."""

    rate: Decimal | None        # None: no VAT applicable
    net: Decimal
    vat: Decimal

    def negated(self) -> "VatLine":
        return VatLine(self.rate, -self.net, -self.vat)

    def to_json(self) -> dict[str, Any]:
        return {"rate": fmt_exact(self.rate), "net": fmt(self.net), "vat": fmt(self.vat)}


@frozen
class Adjustment:
    """The tariff's min_price/max_price clamp: what was added to (or taken off) the sum of lines."""

    kind: str                   # MIN_PRICE | MAX_PRICE | MIN_PRICE+MAX_PRICE
    excl_vat: Decimal
    incl_vat: Decimal

    def negated(self) -> "Adjustment":
        return Adjustment(self.kind, -self.excl_vat, -self.incl_vat)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "excl_vat": fmt(self.excl_vat), "incl_vat": fmt(self.incl_vat)}


@frozen
class Difference:
    """Recomputed price vs the CDR's own ``total_cost``.

    ``excl_vat``/``incl_vat`` = OCPI recomputation rounded once (``recomputed``, from the exact
    figures: rounding-policy neutral) minus the CDR's total. ``billed_*`` = our policy-rounded
    ``total_cost`` minus the CDR's total. ``within_tolerance`` holds when either comparison is
    within ``tolerance`` for every figure the CDR gives (OCPI leaves money rounding open).
    """

    cdr_excl_vat: Decimal
    cdr_incl_vat: Decimal | None
    recomputed: Amount
    excl_vat: Decimal
    incl_vat: Decimal | None
    billed_excl_vat: Decimal
    billed_incl_vat: Decimal | None
    tolerance: Decimal
    within_tolerance: bool

    @property
    def is_zero(self) -> bool:
        return self.excl_vat == 0 and not self.incl_vat

    def to_json(self) -> dict[str, Any]:
        return {
            "excl_vat": fmt(self.excl_vat),
            "incl_vat": fmt(self.incl_vat),
            "within_tolerance": self.within_tolerance,
            "tolerance": fmt(self.tolerance),
            "basis": "exact",
            "cdr_total": {"excl_vat": fmt(self.cdr_excl_vat), "incl_vat": fmt(self.cdr_incl_vat)},
            "recomputed": self.recomputed.to_json(),
            "billed": {"excl_vat": fmt(self.billed_excl_vat), "incl_vat": fmt(self.billed_incl_vat)},
        }


@frozen
class PriceResult:
    currency: str | None
    tariff_id: str | None
    time_zone: str
    time_zone_source: str                      # override | location | country | default
    total_cost: Amount
    total_energy_cost: Amount | None
    total_time_cost: Amount | None
    total_parking_cost: Amount | None
    total_fixed_cost: Amount | None
    total_reservation_cost: Amount | None
    components: tuple[Component, ...]
    vat: tuple[VatLine, ...]
    adjustment: Adjustment | None
    exact_total_cost: Amount                   # unrounded, clamped like total_cost
    volumes: dict[str, Decimal]                # consumed: ENERGY kWh, TIME/PARKING_TIME/RESERVATION_TIME h
    warnings: tuple[Problem, ...] = ()
    difference: Difference | None = None
    negative: bool = field(default=False)      # True on a negated() result

    def subtotal(self, name: str) -> Amount | None:
        return getattr(self, name)

    def negated(self) -> "PriceResult":
        """Every amount with its sign flipped (volumes, rates and unit prices unchanged).

        The comparison with a CDR total does not carry over (``difference`` is dropped): a credit
        is compared with the credit CDR by whoever builds it.
        """
        return replace(
            self,
            total_cost=self.total_cost.negated(),
            **{name: (a.negated() if (a := getattr(self, name)) is not None else None) for name in SUBTOTALS},
            components=tuple(c.negated() for c in self.components),
            vat=tuple(v.negated() for v in self.vat),
            adjustment=self.adjustment.negated() if self.adjustment else None,
            exact_total_cost=self.exact_total_cost.negated(),
            difference=None,
            negative=not self.negative,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total_cost": self.total_cost.to_json()}
        for name in SUBTOTALS:
            amount = getattr(self, name)
            out[name] = amount.to_json() if amount is not None else None
        out.update({
            "components": [c.to_json() for c in self.components],
            "warnings": [w.to_dict() for w in self.warnings],
            "difference": self.difference.to_json() if self.difference else None,
            "currency": self.currency,
            "tariff_id": self.tariff_id,
            "time_zone": self.time_zone,
            "time_zone_source": self.time_zone_source,
            "vat": [v.to_json() for v in self.vat],
            "adjustment": self.adjustment.to_json() if self.adjustment else None,
            "exact_total_cost": self.exact_total_cost.to_exact_json(),
            "volumes": {k: fmt_exact(v) for k, v in self.volumes.items()},
        })
        return out
