"""Which local time a session happened in (OCPI's cdr_location carries no time zone).

Order of precedence: the location master's zone, then the zone of the CDR's country, then the
operator's default. Tariff restrictions and billing periods are judged in this local time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from engine.pricing.timezone import zone_for_country


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_for_cdr(cdr: dict[str, Any], location: dict[str, Any] | None, default: str = "UTC") -> ZoneInfo:
    if location and location.get("time_zone"):
        return zone(str(location["time_zone"]))
    country = (cdr.get("cdr_location") or {}).get("country")
    name = zone_for_country(country) if country else None
    return zone(name or default)
