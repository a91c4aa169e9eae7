"""Test helpers for tests/pricing: load fixtures and build normalised CDRs in test code.

The engine takes *normalised* input (Decimal numbers, aware UTC datetimes, 2.2.1 shape). Until
and independently of engine.intake, these helpers produce that shape: JSON numbers become
Decimal, ``*_date_time`` and ``last_updated`` strings become aware UTC datetimes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DATA = Path(__file__).resolve().parent.parent / "data" / "tariffs"
UTC = timezone.utc
D = Decimal


def parse_instant(text: str) -> datetime:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if isinstance(value, str) and (key.endswith("date_time") or key == "last_updated"):
        return parse_instant(value)
    return value


def loads(text: str) -> Any:
    return normalise(json.loads(text, parse_float=Decimal, parse_int=Decimal))


def load(name: str) -> Any:
    """A fixture from tests/data/tariffs, normalised."""
    return loads((DATA / name).read_text(encoding="utf-8"))


def spec_tariff(name: str) -> dict:
    """An official 2.2.1 example tariff by its examples/ file stem, e.g. ``tariff_4_complex``."""
    return load(f"ocpi-spec_2.2.1-bugfixes_{name}.json")


def hours(minutes: int | str | Decimal, seconds: int = 0) -> Decimal:
    """Minutes (and seconds) as OCPI hours (exact to 28 significant digits)."""
    return (Decimal(minutes) * 60 + seconds) / Decimal(3600)


def local(text: str, zone: str = "Europe/Berlin") -> datetime:
    """A local wall-clock time ("2026-06-01 09:30") as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def make_cdr(start: datetime, periods: list[tuple[Any, dict[str, Any]]], *, end: datetime | None = None,
             country: str | None = "DEU", tariffs: list[dict] | None = None, total: tuple | None = None,
             currency: str = "EUR", tariff_id: str | None = None) -> dict:
    """A minimal normalised CDR with what pricing needs.

    ``periods`` = [(start, {"ENERGY": kWh, "TIME": h, ...}), ...]; a start may be a datetime or
    a timedelta/minutes offset from ``start``. ``end`` defaults to the start plus the summed
    TIME/PARKING_TIME/RESERVATION_TIME of the periods laid end to end.
    """
    built = []
    cursor = start
    for when, dims in periods:
        if isinstance(when, datetime):
            at = when
        elif isinstance(when, timedelta):
            at = start + when
        elif when is None:
            at = cursor
        else:
            at = start + timedelta(minutes=float(when))
        volumes = {k: Decimal(str(v)) if not isinstance(v, Decimal) else v for k, v in dims.items()}
        period: dict[str, Any] = {"start_date_time": at,
                                  "dimensions": [{"type": k, "volume": v} for k, v in volumes.items()]}
        if tariff_id is not None:
            period["tariff_id"] = tariff_id
        built.append(period)
        duration = sum((volumes.get(k, Decimal(0)) for k in ("TIME", "PARKING_TIME", "RESERVATION_TIME")),
                       Decimal(0))
        cursor = at + timedelta(microseconds=int(duration * 3600 * 1_000_000))
    cdr: dict[str, Any] = {
        "id": "TEST-1",
        "start_date_time": start,
        "end_date_time": end or cursor,
        "currency": currency,
        "cdr_location": {"country": country} if country else {},
        "charging_periods": built,
    }
    if tariffs is not None:
        cdr["tariffs"] = tariffs
    if total is not None:
        cdr["total_cost"] = {"excl_vat": Decimal(str(total[0])), "incl_vat": Decimal(str(total[1]))}
    return cdr


def amounts(result) -> tuple[str, str]:
    return str(result.total_cost.excl_vat), str(result.total_cost.incl_vat)


def by_dimension(result, dimension: str) -> list:
    return [c for c in result.components if c.dimension == dimension]


def minutes(volume_hours: Decimal) -> Decimal:
    return (volume_hours * 60).quantize(Decimal("0.000001")).normalize()
