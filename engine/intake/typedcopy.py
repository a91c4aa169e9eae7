"""The typed normalised CDR of a schema-valid wire CDR, in one walk that knows the OCPI shape.

``accept`` used to make two passes over every CDR: ``normalise.prenormalise`` copied it (a
generic walk asking of every value "is this key special?"), and after validation
``normalise.to_typed_cdr`` walked the copy again to turn numbers into Decimal and DateTimes into
datetimes. For a CDR the schema accepts as it arrived, both passes are predictable: every object
is closed (``additionalProperties: false`` at every level), so the schema says where each
DateTime, number, integer and code sits, and what the two passes make of it is:

* a DateTime ending in ``Z`` (``datetimes.fix_wire`` leaves it alone) -> ``datetimes.parse``;
* a number: an int -> ``Decimal(int)``, a finite Decimal stays;
* an integer field (``step_size``, ``min_duration``, ``max_duration``,
  ``encoding_method_version``): an int -> ``Decimal(int)``;
* ``country_code`` / ``party_id`` upper-cased, ``cdr_location.country`` upper-cased;
* every dict and list copied, everything else carried over as it is.

:func:`typed_cdr` does exactly that, positions known, and raises :class:`Unusual` for anything
the two passes would treat otherwise (a float, a NaN, a Decimal in an integer field, a DateTime
with an offset, a subclass of dict/list/str where a plain one is expected, a date Python cannot
represent): ``accept`` then takes the explaining path, so warnings and errors stay exactly as
they were. Validating the input instead of the copy gives the same verdict because the only
changes the copy makes are upper-casing codes that the schema's patterns already restrict to
ASCII letters and digits, which upper-casing keeps within the pattern and its length.
(tests/intake/test_typedcopy.py compares both paths on the fixtures and on mutated CDRs.)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.intake import datetimes

_CDR_PRICES = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
               "total_parking_cost", "total_reservation_cost")
_RESTRICTION_NUMBERS = ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power")
_RESTRICTION_INTEGERS = ("min_duration", "max_duration")


_ONLY_DICTS = frozenset({dict})
_fromisoformat = datetime.fromisoformat


class Unusual(Exception):
    """This CDR needs the explaining path (prenormalise, validate, type, check)."""


def _number(value: Any) -> Decimal:
    kind = type(value)
    if kind is int:
        return Decimal(value)
    if kind is Decimal and value.is_finite():
        return value
    raise Unusual


def _integer(value: Any) -> Decimal:
    """An integer field: prenormalise turns a Decimal there into an int first, so only ints pass."""
    if type(value) is int:
        return Decimal(value)
    raise Unusual


def _numbers(objs: list[dict[str, Any]], key: str) -> None:
    """The required number ``key`` of each object, typed in place (a finite Decimal stays as it is)."""
    for obj in objs:
        value = obj[key]
        if type(value) is not Decimal or not value.is_finite():
            obj[key] = _number(value)


def _code(value: Any) -> str:
    if type(value) is not str:
        raise Unusual
    return value.upper()


def _country(value: Any) -> str:
    if type(value) is not str:
        raise Unusual
    upper = value.upper()
    if len(upper) != 3:
        raise Unusual
    return upper


def _datetime(value: Any) -> Any:
    if type(value) is not str or (value[-1:] != "Z" and len(value) <= datetimes.MAX_LENGTH):
        raise Unusual  # (an offset: prenormalise warns about it)
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        raise Unusual from None  # (not representable: the explaining path says so)
    return parsed if parsed.tzinfo is datetimes.UTC else datetimes.parse(value)  # (the first half of parse)


def _obj(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise Unusual
    return value.copy()


def _arr(value: Any) -> list[Any]:
    if type(value) is not list:
        raise Unusual
    return value


def _objs(value: Any) -> list[dict[str, Any]]:
    """A copy of a list of objects, each copied (the type checks and copies run in C)."""
    if type(value) is not list or not _ONLY_DICTS.issuperset(map(type, value)):
        raise Unusual
    return list(map(dict.copy, value))


def _present(obj: dict[str, Any], keys: tuple[str, ...], convert: Any) -> None:
    """Convert the optional fields ``keys`` of ``obj`` that are there."""
    for key in keys:
        if key in obj:
            obj[key] = convert(obj[key])


def _price(value: Any) -> dict[str, Any]:
    price = _obj(value)
    price["excl_vat"] = _number(price["excl_vat"])
    if "incl_vat" in price:
        price["incl_vat"] = _number(price["incl_vat"])
    return price


def _periods(value: Any) -> list[dict[str, Any]]:
    periods = _objs(value)
    for period in periods:
        period["start_date_time"] = _datetime(period["start_date_time"])
        dims = period["dimensions"] = _objs(period["dimensions"])
        _numbers(dims, "volume")
    return periods


def _price_components(value: Any) -> list[dict[str, Any]]:
    pcs = _objs(value)
    _numbers(pcs, "price")
    for pc in pcs:
        if "vat" in pc:
            pc["vat"] = _number(pc["vat"])
        pc["step_size"] = _integer(pc["step_size"])
    return pcs


def _restrictions(value: Any) -> dict[str, Any]:
    restrictions = _obj(value)
    _present(restrictions, _RESTRICTION_NUMBERS, _number)
    _present(restrictions, _RESTRICTION_INTEGERS, _integer)
    if "day_of_week" in restrictions:
        restrictions["day_of_week"] = _arr(restrictions["day_of_week"]).copy()
    return restrictions


def _elements(value: Any) -> list[dict[str, Any]]:
    elements = _objs(value)
    for element in elements:
        element["price_components"] = _price_components(element["price_components"])
        if "restrictions" in element:
            element["restrictions"] = _restrictions(element["restrictions"])
    return elements


def _energy_mix(value: Any) -> dict[str, Any]:
    mix = _obj(value)
    if "energy_sources" in mix:
        _numbers(_present_objs(mix, "energy_sources"), "percentage")
    if "environ_impact" in mix:
        _numbers(_present_objs(mix, "environ_impact"), "amount")
    return mix


def _present_objs(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    copied = obj[key] = _objs(obj[key])
    return copied


def _tariffs(value: Any) -> list[dict[str, Any]]:
    tariffs = _objs(value)
    for tariff in tariffs:
        tariff["country_code"] = _code(tariff["country_code"])
        tariff["party_id"] = _code(tariff["party_id"])
        if "tariff_alt_text" in tariff:
            tariff["tariff_alt_text"] = _objs(tariff["tariff_alt_text"])
        _present(tariff, ("min_price", "max_price"), _price)
        tariff["elements"] = _elements(tariff["elements"])
        _present(tariff, ("start_date_time", "end_date_time"), _datetime)
        _present(tariff, ("energy_mix",), _energy_mix)
        tariff["last_updated"] = _datetime(tariff["last_updated"])
    return tariffs


def _signed_data(value: Any) -> dict[str, Any]:
    signed = _obj(value)
    _present(signed, ("encoding_method_version",), _integer)
    signed["signed_values"] = _objs(signed["signed_values"])
    return signed


def typed_cdr(data: dict[str, Any]) -> dict[str, Any]:
    """The CDR ``prenormalise`` + ``to_typed_cdr`` make of ``data``, which the CDR schema accepts.

    Raises :class:`Unusual` where they would warn, fail or coerce beyond what is listed above.
    """
    cdr = _obj(data)
    cdr["country_code"] = _code(cdr["country_code"])
    cdr["party_id"] = _code(cdr["party_id"])
    for key in ("start_date_time", "end_date_time", "last_updated"):
        cdr[key] = _datetime(cdr[key])
    token = cdr["cdr_token"] = _obj(cdr["cdr_token"])
    token["country_code"] = _code(token["country_code"])
    token["party_id"] = _code(token["party_id"])
    location = cdr["cdr_location"] = _obj(cdr["cdr_location"])
    location["country"] = _country(location["country"])
    location["coordinates"] = _obj(location["coordinates"])
    if "tariffs" in cdr:
        cdr["tariffs"] = _tariffs(cdr["tariffs"])
    cdr["charging_periods"] = _periods(cdr["charging_periods"])
    if "signed_data" in cdr:
        cdr["signed_data"] = _signed_data(cdr["signed_data"])
    for key in _CDR_PRICES:
        if key in cdr:
            cdr[key] = _price(cdr[key])
    cdr["total_energy"] = _number(cdr["total_energy"])
    cdr["total_time"] = _number(cdr["total_time"])
    if "total_parking_time" in cdr:
        cdr["total_parking_time"] = _number(cdr["total_parking_time"])
    return cdr
