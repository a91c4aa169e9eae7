"""OCPI 2.2.1 tariff pricing (pure: no I/O, no clock).

High level::

    result = price_cdr(cdr, tariff=None, tz=None, location_tz=None, tolerance=Decimal("0.01"))
    result.total_cost.excl_vat, result.components, result.difference, result.to_json()

Lower level, for pricing volumes at other rates (subscription plans, MSP tariffs)::

    zone = resolve_zone(tz, location_tz, cdr["cdr_location"]["country"]).zone
    segments, problems = split_periods(cdr, zone, Boundaries.of(["07:00", "22:00"]))
    session = price_periods(cdr, parse_tariff(tariff_dict)[0], zone)   # slices per element
"""

from engine.pricing.price import (
    PricedSession, PricedSlice, PricingError, price_cdr, price_periods, select_tariff, try_price_cdr,
)
from engine.pricing.restrictions import Moment, Restrictions, parse_restrictions
from engine.pricing.result import Adjustment, Amount, Component, Difference, PriceResult, VatLine
from engine.pricing.segments import Segment, split_periods
from engine.pricing.step_size import round_up
from engine.pricing.tariff import Boundaries, PriceComponent, Tariff, TariffElement, parse_tariff
from engine.pricing.timezone import ZoneChoice, resolve_zone, zone_for_country

__all__ = [
    "Adjustment", "Amount", "Boundaries", "Component", "Difference", "Moment", "PriceComponent",
    "PriceResult", "PricedSession", "PricedSlice", "PricingError", "Restrictions", "Segment", "Tariff",
    "TariffElement", "VatLine", "ZoneChoice", "parse_restrictions", "parse_tariff", "price_cdr",
    "price_periods", "resolve_zone", "round_up", "select_tariff", "split_periods", "try_price_cdr",
    "zone_for_country",
]
