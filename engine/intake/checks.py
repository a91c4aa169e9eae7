"""What a JSON Schema cannot check: relations between fields and membership in code lists.

Runs on the typed (Decimal/datetime) CDR after validation. Errors reject the CDR; warnings go
with it into the Decision so an analyst sees the quirk (real data has charging periods starting
before the session, ``vat: 0.077`` given as a fraction, ``incl_vat`` below ``excl_vat``) without
the CDR being stopped for something that does not change what is billed. Every check tolerates
absent fields: ``normalise_for_pricing`` runs them on partial CDRs too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any

from engine.intake.currencies import ISO_4217
from engine.problems import Problem, join_path

# Charging periods aligned to the UTC hour start up to an hour before the session does.
PERIOD_TOLERANCE = timedelta(hours=1)
NON_CREDIT_ID_LENGTH = 36
SESSION_ONLY_DIMENSIONS = frozenset({"CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE"})
PRICES = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
          "total_parking_cost", "total_reservation_cost")
# (comparing a Decimal with a Decimal skips converting the int on every comparison; same result)
_ZERO, _ONE = Decimal(0), Decimal(1)

# error codes
END_BEFORE_START = "cdr.end_before_start"
NEGATIVE_TOTAL = "cdr.negative_total"
CREDIT_WITHOUT_REFERENCE = "cdr.credit_without_reference"
UNKNOWN_CURRENCY = "cdr.unknown_currency"
ID_TOO_LONG = "cdr.id_too_long"
NEGATIVE_ENERGY = "cdr.negative_energy"
NEGATIVE_TIME = "cdr.negative_time"
TARIFF_UNKNOWN_CURRENCY = "tariff.unknown_currency"
# warning codes
PERIOD_OUTSIDE_SESSION = "cdr.period_outside_session"
PERIODS_NOT_ASCENDING = "cdr.periods_not_ascending"
SESSION_ONLY_DIMENSION = "cdr.session_only_dimension"
INCL_BELOW_EXCL = "price.incl_vat_below_excl_vat"
VAT_FRACTION = "tariff.vat_as_fraction"
REFERENCE_WITHOUT_CREDIT = "cdr.reference_without_credit"
CREDIT_NOT_NEGATIVE = "cdr.credit_total_not_negative"
TARIFF_CURRENCY_MISMATCH = "cdr.tariff_currency_mismatch"


class _Findings:
    __slots__ = ("errors", "warnings")

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, code: str, message: str, path: str) -> None:
        self.errors.append(Problem(code=code, message=message, path=path))

    def warn(self, code: str, message: str, path: str) -> None:
        self.warnings.append(Problem(code=code, message=message, path=path, severity="warning"))


def check_cdr(cdr: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a typed CDR."""
    found = _Findings()
    start, end = cdr.get("start_date_time"), cdr.get("end_date_time")
    timed = isinstance(start, datetime) and isinstance(end, datetime)
    if timed and end < start:
        found.error(END_BEFORE_START, f"end_date_time {end.isoformat()} is before start_date_time "
                    f"{start.isoformat()}", "end_date_time")
    _periods(cdr, start if timed else None, end if timed else None, found)
    credit = cdr.get("credit") is True
    if credit and not cdr.get("credit_reference_id"):
        found.error(CREDIT_WITHOUT_REFERENCE, "a credit CDR (credit: true) must name the CDR it credits "
                    "in credit_reference_id", "credit_reference_id")
    if not credit and cdr.get("credit_reference_id"):
        found.warn(REFERENCE_WITHOUT_CREDIT, "credit_reference_id is set but credit is not true; "
                   "treated as a normal CDR", "credit_reference_id")
    cdr_id = cdr.get("id")
    if not credit and isinstance(cdr_id, str) and len(cdr_id) > NON_CREDIT_ID_LENGTH:
        found.error(ID_TOO_LONG, f"id has {len(cdr_id)} characters; only credit CDRs may exceed "
                    f"{NON_CREDIT_ID_LENGTH}", "id")
    _totals(cdr, credit, found)
    currency = cdr.get("currency")
    if isinstance(currency, str) and currency not in ISO_4217:
        found.error(UNKNOWN_CURRENCY, f"{currency!r} is not an ISO 4217 currency code", "currency")
    for i, tariff in enumerate(cdr.get("tariffs") or ()):
        path = join_path("tariffs", i)
        _tariff(tariff, path, found, UNKNOWN_CURRENCY)
        t_currency = tariff.get("currency")
        if isinstance(currency, str) and isinstance(t_currency, str) and t_currency != currency:
            found.warn(TARIFF_CURRENCY_MISMATCH, f"tariff currency {t_currency} differs from the CDR's {currency}",
                       join_path(path, "currency"))
    return found.errors, found.warnings


def check_tariff(tariff: dict[str, Any], path: str = "") -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a typed stand-alone tariff."""
    found = _Findings()
    _tariff(tariff, path, found, TARIFF_UNKNOWN_CURRENCY)
    return found.errors, found.warnings


def _period_path(i: int, *rest: str | int) -> str:
    path = join_path("charging_periods", i)
    for step in rest:
        path = join_path(path, step)
    return path


def _periods(cdr: dict[str, Any], start: datetime | None, end: datetime | None, found: _Findings) -> None:
    previous = None
    earliest = start - PERIOD_TOLERANCE if start is not None and end is not None else None
    for i, period in enumerate(cdr.get("charging_periods") or ()):
        began = period.get("start_date_time")
        if isinstance(began, datetime):
            if earliest is not None and not (earliest <= began <= end):  # type: ignore[operator]
                found.warn(PERIOD_OUTSIDE_SESSION, f"charging period starts at {began.isoformat()}, outside the "
                           f"session {start.isoformat()} .. {end.isoformat()}",  # type: ignore[union-attr]
                           _period_path(i, "start_date_time"))
            if previous is not None and began < previous:
                found.warn(PERIODS_NOT_ASCENDING, "charging period starts before the previous one",
                           _period_path(i, "start_date_time"))
            previous = began
        dims = period.get("dimensions") or ()
        if SESSION_ONLY_DIMENSIONS.isdisjoint(map(dict.get, dims, repeat("type"))):
            continue  # (the usual period, looked over in C; the loop below says where)
        for j, dim in enumerate(dims):
            if dim.get("type") in SESSION_ONLY_DIMENSIONS:
                found.warn(SESSION_ONLY_DIMENSION, f"{dim['type']} is a Session-only dimension; ignored for billing",
                           _period_path(i, "dimensions", j, "type"))


def _totals(cdr: dict[str, Any], credit: bool, found: _Findings) -> None:
    for key in PRICES:
        price = cdr.get(key)
        if price is None or not isinstance(price, dict):
            continue
        for name in ("excl_vat", "incl_vat"):
            value = price.get(name)
            if not isinstance(value, Decimal):
                continue
            if not credit and value < _ZERO:
                found.error(NEGATIVE_TOTAL, f"{key}.{name} is negative ({value}); only a credit CDR "
                            "(credit: true) may have negative amounts", join_path(key, name))
            elif credit and key == "total_cost" and value > _ZERO:
                found.warn(CREDIT_NOT_NEGATIVE, f"credit CDR with a positive {key}.{name} ({value}); "
                           "a credit carries the negated amounts of the original", join_path(key, name))
        _incl_below_excl(price, key, found)
    for key, code in (("total_energy", NEGATIVE_ENERGY), ("total_time", NEGATIVE_TIME),
                      ("total_parking_time", NEGATIVE_TIME)):
        value = cdr.get(key)
        if isinstance(value, Decimal) and value < _ZERO:
            found.error(code, f"{key} is negative ({value})", key)


def _incl_below_excl(price: Any, path: str, found: _Findings) -> None:
    if not isinstance(price, dict):
        return
    excl, incl = price.get("excl_vat"), price.get("incl_vat")
    if isinstance(excl, Decimal) and isinstance(incl, Decimal) and abs(incl) < abs(excl):
        found.warn(INCL_BELOW_EXCL, f"incl_vat {incl} is smaller than excl_vat {excl}",
                   join_path(path, "incl_vat"))


def _tariff(tariff: dict[str, Any], path: str, found: _Findings, currency_code: str) -> None:
    currency = tariff.get("currency")
    if isinstance(currency, str) and currency not in ISO_4217:
        found.error(currency_code, f"{currency!r} is not an ISO 4217 currency code", join_path(path, "currency"))
    for key in ("min_price", "max_price"):
        price = tariff.get(key)
        if price is not None:
            _incl_below_excl(price, join_path(path, key), found)
    start, end = tariff.get("start_date_time"), tariff.get("end_date_time")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        found.warn("tariff.end_before_start", "tariff end_date_time is before its start_date_time",
                   join_path(path, "end_date_time"))
    for i, element in enumerate(tariff.get("elements") or ()):
        for j, pc in enumerate(element.get("price_components") or ()):
            vat = pc.get("vat")
            if isinstance(vat, Decimal) and _ZERO < vat < _ONE:
                where = path
                for step in ("elements", i, "price_components", j, "vat"):
                    where = join_path(where, step)
                found.warn(VAT_FRACTION, f"vat {vat} looks like a fraction; OCPI vat is a percentage "
                           f"({(vat * 100).normalize():f} %?). Kept as given", where)


def quiet_line_cdr(cdr: dict[str, Any], tariff_currencies: tuple[str, ...] | None) -> bool:
    """True when :func:`check_cdr` finds nothing in ``cdr``, a CDR typed by cdrline.typed_cdr;
    False when it may find something (then ask it). Nearly every CDR is quiet.

    Why True means ``check_cdr(cdr) == ([], [])``: on that path the types check_cdr tests for are
    certain (the required DateTimes are datetimes, every period has a datetime start and dimensions
    with a type, prices are dicts of Decimals with excl_vat, the totals Decimals, ``credit`` a bool
    when present), so what is left is each of check_cdr's conditions, tested here in the same
    order of reading and without a message: end not before start, every period within the
    tolerated session and not before the previous one and without a Session-only dimension, no
    credit (a credit CDR always goes to check_cdr) and no credit_reference_id, a non-credit id of
    at most 36 characters, no negative amount and no incl_vat below excl_vat (for non-negative
    amounts ``abs`` changes nothing), a known currency. The tariffs' own findings depend on
    nothing else in the CDR: cdrline remembers per tariffs text whether check_tariff finds
    nothing in any of them (``tariff_currencies``: their currencies then, else None), so only
    the currency mismatch is left to test."""
    if tariff_currencies is None or cdr.get("credit") is True or cdr.get("credit_reference_id"):
        return False
    currency = cdr["currency"]
    if currency not in ISO_4217 or any(t_currency != currency for t_currency in tariff_currencies):
        return False
    start, end = cdr["start_date_time"], cdr["end_date_time"]
    if end < start or len(cdr["id"]) > NON_CREDIT_ID_LENGTH:
        return False
    previous = start - PERIOD_TOLERANCE  # (then each start: a start at or after it is after the earliest too)
    for period in cdr["charging_periods"]:
        began = period["start_date_time"]
        if not (previous <= began <= end) or not SESSION_ONLY_DIMENSIONS.isdisjoint(
                map(dict.get, period["dimensions"], repeat("type"))):
            return False
        previous = began
    return _quiet_totals(cdr)


def _quiet_totals(cdr: dict[str, Any]) -> bool:
    """:func:`_totals` of a non-credit CDR from cdrline finds nothing."""
    for key in PRICES:
        price = cdr.get(key)
        if price is not None:
            excl, incl = price["excl_vat"], price.get("incl_vat")
            if excl < _ZERO or (incl is not None and (incl < _ZERO or incl < excl)):
                return False
    parking = cdr.get("total_parking_time")
    return not (cdr["total_energy"] < _ZERO or cdr["total_time"] < _ZERO
                or (parking is not None and parking < _ZERO))
