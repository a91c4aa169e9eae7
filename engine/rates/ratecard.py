"""A rate card: the non-OCPI price list used by subscription plans and MSP tariffs.

OCPI tariffs describe *public* prices with restrictions and step sizes (``engine.pricing``).
Plans and bilateral MSP tariffs are simpler — a price per kWh, per minute (or hour) of charging,
per session, and an idle fee per minute of parking after a grace time — and are applied to the
CDR's session totals (``total_energy``, ``total_time``, ``total_parking_time``). The same card
prices one session and, with summed usage, one period line, so the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from engine.config.yamlload import Loc
from engine.memo import remembered_for_pair
from engine.money import (
    exact_quotient, gross_divisor, line_net, round_amount, round_unit_price, to_decimal,
)
from engine.problems import Problem
from engine.rates.model import ENERGY, IDLE_FEE, SESSION_FEE, TIME, PriceLine
from engine.tax.treatment import TaxTreatment

ZERO = Decimal(0)
SIXTY = Decimal(60)
POWER_TYPES = ("AC", "DC")


@dataclass(frozen=True)
class RateCard:
    energy: Decimal | None = None           # per kWh
    time_price: Decimal | None = None       # per time_unit of charging time
    time_unit: str = "min"                  # min | h
    session: Decimal | None = None          # per session
    idle_per_minute: Decimal | None = None  # per minute of parking beyond the grace time
    idle_grace_minutes: Decimal = ZERO
    loc: Loc | None = None

    @property
    def prices(self) -> tuple[Decimal, ...]:
        return tuple(p for p in (self.energy, self.time_price, self.session, self.idle_per_minute) if p is not None)


def parse_card(raw: Mapping[str, Any], loc: Loc | None = None) -> RateCard:
    """From the YAML shape {energy, per_minute | per_hour, session, idle_fee: {per_minute, grace_minutes}}."""
    def dec(key: str, src: Mapping[str, Any] = raw) -> Decimal | None:
        return to_decimal(src[key], field=key) if src.get(key) is not None else None

    time_price, unit = dec("per_minute"), "min"
    if time_price is None and raw.get("per_hour") is not None:
        time_price, unit = dec("per_hour"), "h"
    idle = raw.get("idle_fee") or {}
    return RateCard(energy=dec("energy"), time_price=time_price, time_unit=unit, session=dec("session"),
                    idle_per_minute=dec("per_minute", idle), idle_grace_minutes=dec("grace_minutes", idle) or ZERO,
                    loc=loc)


def session_usage(cdr: Mapping[str, Any],
                  card: RateCard | None) -> tuple[Decimal, Decimal, Decimal, Decimal, list[Problem]]:
    """One session's usage from the CDR totals: (energy kWh, charging hours, parking hours, idle
    minutes beyond the card's grace, problems). Charging time = total_time - total_parking_time.
    Plain figures, not an object: they go straight into ``session_lines``."""
    problems: list[Problem] = []
    energy = _total(cdr, "total_energy", problems)
    total = _total(cdr, "total_time", problems)
    parking = _total(cdr, "total_parking_time", problems)
    charging = total - parking
    if charging < ZERO:  # (a Decimal: the int 0 would be converted for every session)
        problems.append(Problem("PARKING_EXCEEDS_TOTAL_TIME", "total_parking_time exceeds total_time; "
                                "charging time taken as 0", path="total_parking_time", severity="warning"))
        charging = ZERO
    grace = card.idle_grace_minutes if card else ZERO
    idle = max(ZERO, parking * SIXTY - grace)
    return energy, charging, parking, idle, problems


def _total(cdr: Mapping[str, Any], key: str, problems: list[Problem]) -> Decimal:
    """One of the CDR's totals as a Decimal; 0 with a warning when it is not a number."""
    value = cdr.get(key)
    if type(value) is Decimal and value.is_finite():
        return value  # what to_decimal returns for it: the typed copy's totals are Decimals
    if value is None:
        return ZERO
    try:
        return to_decimal(value, field=key)
    except (TypeError, ValueError) as exc:
        problems.append(Problem("INVALID_CDR_TOTAL", f"{exc}; 0 used", path=key, severity="warning"))
        return ZERO


_NET_PRICES: dict[tuple[int, int], tuple[object, object, tuple[Decimal, Decimal]]] = {}
_NET_PRICES_LIMIT = 1024


def _line(product: str, description: str, quantity: Decimal, unit: str, price: Decimal, tax: TaxTreatment,
          gross: bool, reference: Mapping[str, Any]) -> PriceLine:
    if not gross:
        return PriceLine(product, description, quantity, unit, price, line_net(quantity, price),
                         tax.rate, tax.treatment, tax.tax_class, reference=reference)
    amount = line_net(quantity, price)  # first, as before: a number out of range fails as it did
    divisor, unit_price = remembered_for_pair(_NET_PRICES, price, tax.rate, _net_price, _NET_PRICES_LIMIT)
    return PriceLine(product, description, quantity, unit, unit_price,
                     round_amount(exact_quotient(amount, divisor)), tax.rate, tax.treatment, tax.tax_class,
                     gross=amount, unit_price_gross=price, reference=reference)


def _net_price(price: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(1 + rate / 100, the net unit price of the gross ``price``): the same for every line at a
    card's price and a VAT rate, both configuration constants (remembered per pair of objects).

    localcontext(prec=34)'s arithmetic, without entering a context per line (engine.money).
    """
    divisor = gross_divisor(rate)
    return divisor, round_unit_price(exact_quotient(price, divisor))


def session_lines(card: RateCard, energy_kwh: Decimal, charging_hours: Decimal, idle_minutes: Decimal,
                  tax: TaxTreatment, gross: bool, label: str, reference: Mapping[str, Any]) -> list[PriceLine]:
    """Lines for one session's usage (``session_usage``) at ``card``. ``gross``: the card's
    prices include VAT (B2C plans).

    A priced dimension with no usage gives no line; the energy line is always shown when the
    card prices energy, so every document says how many kWh it is about.

    The lines share ``reference`` (not a copy each): a line is frozen and nothing mutates its
    reference (its JSON is a copy, ``PriceLine.to_json``), and the session pricers hand over a
    new dict of their own. Sharing also lets ``StreamPrice.to_json`` check it once.
    """
    lines: list[PriceLine] = []
    suffix = f" ({label})" if label else ""
    if card.energy is not None:
        lines.append(_line(ENERGY, f"Energy{suffix}", energy_kwh, "kWh", card.energy, tax, gross, reference))
    if card.time_price and charging_hours:
        qty = charging_hours * SIXTY if card.time_unit == "min" else charging_hours
        lines.append(_line(TIME, f"Charging time{suffix}", qty, card.time_unit, card.time_price, tax, gross,
                           reference))
    if card.session:
        lines.append(_line(SESSION_FEE, f"Session fee{suffix}", Decimal(1), "session", card.session,
                           tax, gross, reference))
    if card.idle_per_minute and idle_minutes:
        lines.append(_line(IDLE_FEE, f"Idle fee{suffix}", idle_minutes, "min", card.idle_per_minute, tax,
                           gross, reference))
    return lines


def power_type_of(cdr: Mapping[str, Any]) -> str | None:
    """AC or DC from ``cdr_location.connector_power_type`` (AC_1_PHASE, AC_3_PHASE, ... -> AC)."""
    value = (cdr.get("cdr_location") or {}).get("connector_power_type")
    if not value:
        return None
    text = str(value).upper()
    return "DC" if text == "DC" else ("AC" if text.startswith("AC") else None)
