"""From the wire dict to the normalised CDR/Tariff (docs/configuration.md, "The normalised CDR").

Two steps around schema validation:

``prenormalise`` (before) copies the input while applying the leniencies real senders need and
the spec allows or implies: numbers given as strings ("2.00", a known OCPI 2.1.1 quirk) become
Decimal, floats from Python callers become Decimal via their shortest repr, a DateTime without
``Z`` gets one, CiString country codes and party ids are upper-cased (they are case-insensitive),
a lower-case currency is upper-cased and an alpha-2 location country becomes alpha-3 (both with
a warning). It copies rather than mutates so that ``IntakeResult.raw`` stays what was received,
and it bounds the depth so that nested junk is a Problem instead of a RecursionError.

``to_typed_cdr`` / ``to_typed_tariff`` (after) run on schema-valid data only and turn every
number into Decimal and every DateTime into an aware UTC ``datetime``; being after validation
they know where everything is and stay cheap.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.intake import datetimes
from engine.intake.countries import ALPHA2_TO_ALPHA3
from engine.intake.emi3 import party_from_contract_id
from engine.problems import Problem, join_path

MAX_DEPTH = 16  # a CDR nests 8 deep at most (tariffs[].elements[].restrictions.day_of_week[])

NUMBER_AS_STRING = "number.as_string"
CURRENCY_CASE = "currency.lower_case"
COUNTRY_ALPHA2 = "country.alpha2"
TOKEN_PARTY_DERIVED = "token.party_derived"
TOO_DEEP = "json.too_deep"
NON_FINITE = "json.nan"

_DATETIME, _NUMBER, _INT, _CODE, _CURRENCY, _COUNTRY = range(6)
_KEY_KIND = {
    "start_date_time": _DATETIME, "end_date_time": _DATETIME, "last_updated": _DATETIME,
    "excl_vat": _NUMBER, "incl_vat": _NUMBER, "volume": _NUMBER, "price": _NUMBER, "vat": _NUMBER,
    "total_energy": _NUMBER, "total_time": _NUMBER, "total_parking_time": _NUMBER,
    "min_kwh": _NUMBER, "max_kwh": _NUMBER, "min_current": _NUMBER, "max_current": _NUMBER,
    "min_power": _NUMBER, "max_power": _NUMBER, "percentage": _NUMBER, "amount": _NUMBER,
    "step_size": _INT, "min_duration": _INT, "max_duration": _INT, "encoding_method_version": _INT,
    "country_code": _CODE, "party_id": _CODE, "currency": _CURRENCY, "country": _COUNTRY,
}
_INT_KEYS = frozenset(k for k, v in _KEY_KIND.items() if v == _INT)
_NUMERIC = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)


def _trail_path(trail: list[str | int], key: str | int | None = None) -> str:
    path = ""
    for step in trail:
        path = join_path(path, step)
    return join_path(path, key) if key is not None else path


class _Prenormaliser:
    """One copy-and-coerce walk; collects warnings and (fatal) errors with their paths."""

    __slots__ = ("trail", "warnings", "errors")

    def __init__(self) -> None:
        self.trail: list[str | int] = []
        self.warnings: list[Problem] = []
        self.errors: list[Problem] = []

    def warn(self, code: str, message: str, key: str | int) -> None:
        self.warnings.append(Problem(code=code, message=message, path=_trail_path(self.trail, key),
                                     severity="warning"))

    def fail(self, code: str, message: str, key: str | int | None) -> None:
        self.errors.append(Problem(code=code, message=message, path=_trail_path(self.trail, key)))

    def value(self, value: Any, key: str | int, depth: int) -> Any:
        kind = type(value)
        if kind is dict or kind is list:
            self.trail.append(key)
            try:
                return self.obj(value, depth + 1) if kind is dict else self.arr(value, depth + 1)
            finally:
                self.trail.pop()
        if kind is Decimal:
            if not value.is_finite():
                self.fail(NON_FINITE, f"{value} is not a number OCPI allows (NaN/Infinity)", key)
            elif key in _INT_KEYS:
                return _integral(value)
            return value
        if kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                self.fail(NON_FINITE, f"{value} is not a number OCPI allows (NaN/Infinity)", key)
                return value
            number = Decimal(repr(value))
            return _integral(number) if key in _INT_KEYS else number
        if kind is str and type(key) is str:
            special = _KEY_KIND.get(key)  # (strings in lists have int keys: no special meaning)
            if special is not None:
                return self.string(special, key, value)
        return value

    def obj(self, data: dict[Any, Any], depth: int) -> dict[Any, Any] | None:
        if depth > MAX_DEPTH:
            self.fail(TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels; no CDR field is", None)
            return None
        out = {}
        kinds = _KEY_KIND
        trail = self.trail
        for key, item in data.items():
            kind = type(item)
            if kind is str:
                special = kinds.get(key)
                if special is None:
                    out[key] = item
                else:
                    quiet = _quiet_string(special, item)
                    out[key] = quiet if quiet is not _LOUD else self.string(special, key, item)
            elif kind is Decimal and key not in _INT_KEYS and item.is_finite():
                out[key] = item
            elif kind is dict:
                trail.append(key)
                out[key] = self.obj(item, depth + 1)
                trail.pop()
            elif kind is list:
                trail.append(key)
                out[key] = self.arr(item, depth + 1)
                trail.pop()
            elif kind is int or kind is bool or item is None:
                out[key] = item
            else:
                out[key] = self.value(item, key, depth)
        return out

    def arr(self, data: list[Any], depth: int) -> list[Any] | None:
        if depth > MAX_DEPTH:
            self.fail(TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels; no CDR field is", None)
            return None
        out = []
        trail = self.trail
        for index, item in enumerate(data):
            kind = type(item)
            if kind is dict:
                trail.append(index)
                out.append(self.obj(item, depth + 1))
                trail.pop()
            elif kind is str or kind is int or kind is bool or item is None:
                out.append(item)
            else:
                out.append(self.value(item, index, depth))
        return out

    def string(self, kind: int, key: str, text: str) -> Any:
        if kind == _DATETIME:
            fixed, code = datetimes.fix_wire(text)
            if code == datetimes.UTC_OFFSET:
                self.warn(code, f"{text!r}: '+00:00' is not allowed by OCPI (UTC is 'Z'); read as UTC", key)
            elif code == datetimes.NOT_UTC:
                self.warn(code, f"{text!r}: OCPI DateTimes are UTC; converted from its offset", key)
            return fixed
        if kind == _CODE:
            return text.upper()
        if kind == _NUMBER or kind == _INT:
            if len(text) > 64 or _NUMERIC.fullmatch(text) is None:
                return text  # the schema reports "expected number" with the field named
            number = Decimal(text)
            self.warn(NUMBER_AS_STRING, f"number given as a string {text!r}; read as {number}", key)
            return _integral(number) if kind == _INT else number
        if kind == _CURRENCY:
            upper = text.upper()
            if upper != text and len(text) == 3:
                self.warn(CURRENCY_CASE, f"currency {text!r} is not upper case; read as {upper!r}", key)
                return upper
            return text
        # _COUNTRY: ISO 3166-1 alpha-3 wanted, alpha-2 seen in real data
        upper = text.upper()
        if len(upper) == 2 and upper in ALPHA2_TO_ALPHA3:
            alpha3 = ALPHA2_TO_ALPHA3[upper]
            self.warn(COUNTRY_ALPHA2, f"country {text!r} is ISO alpha-2; OCPI wants alpha-3, read as {alpha3!r}",
                      key)
            return alpha3
        return upper if len(upper) == 3 else text


def _integral(number: Decimal) -> Any:
    """An int-typed field: an integral Decimal becomes int (both validators then agree)."""
    if number == number.to_integral_value():
        return int(number)
    return number


_LOUD = object()


def _quiet_string(kind: int, text: str) -> Any:
    """What ``_Prenormaliser.string`` makes of ``text`` when that needs no Problem, else ``_LOUD``.

    The common special strings of every CDR: a DateTime that ``datetimes.fix_wire`` leaves as
    it is, a CiString code (upper-cased), an upper-case currency, an alpha-3 country.
    """
    if kind == _DATETIME:
        return text if text[-1:] == "Z" or len(text) > datetimes.MAX_LENGTH else _LOUD
    if kind == _CODE:
        return text.upper()
    if kind == _CURRENCY:
        return text if len(text) != 3 or text.upper() == text else _LOUD
    if kind == _COUNTRY:
        upper = text.upper()
        return upper if len(upper) == 3 else _LOUD
    return _LOUD


class _Unusual(Exception):
    """Raised by the plain copy: this input needs the explaining walk."""


def _plain_obj(data: dict[Any, Any], depth: int) -> dict[Any, Any]:
    """The copy ``_Prenormaliser.obj`` makes of input that needs no warning and no error.

    Nearly every CDR is such input, and for it the walk's bookkeeping (the trail of keys that
    only a Problem's path needs, the calls through ``self``) is most of its cost. Anything that
    may warn, fail or be coerced beyond upper-casing raises :class:`_Unusual` instead, and
    ``prenormalise`` starts over with the explaining walk, so the outcome is the walk's exactly.
    """
    if depth > MAX_DEPTH:
        raise _Unusual
    out = {}
    kinds = _KEY_KIND
    for key, item in data.items():
        kind = type(item)
        if kind is str:
            special = kinds.get(key)
            if special is not None:
                item = _quiet_string(special, item)
                if item is _LOUD:
                    raise _Unusual
            out[key] = item
        elif kind is Decimal:
            if key in _INT_KEYS or not item.is_finite():
                raise _Unusual
            out[key] = item
        elif kind is dict:
            out[key] = _plain_obj(item, depth + 1)
        elif kind is list:
            out[key] = _plain_arr(item, depth + 1)
        elif kind is int or kind is bool or item is None:
            out[key] = item
        else:
            raise _Unusual
    return out


def _plain_arr(data: list[Any], depth: int) -> list[Any]:
    """``_Prenormaliser.arr`` for input that needs no warning and no error (see ``_plain_obj``)."""
    if depth > MAX_DEPTH:
        raise _Unusual
    out = []
    for item in data:
        kind = type(item)
        if kind is dict:
            out.append(_plain_obj(item, depth + 1))
        elif kind is str or kind is int or kind is bool or item is None:
            out.append(item)
        elif kind is Decimal and item.is_finite():
            out.append(item)
        else:
            raise _Unusual
    return out


def prenormalise(data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Problem], list[Problem]]:
    """Copy ``data`` with the wire leniencies applied; returns (copy, warnings, errors)."""
    try:
        return _plain_obj(data, 0), [], []
    except _Unusual:
        pass
    walker = _Prenormaliser()
    out = walker.obj(data, 0)
    return out, walker.warnings, walker.errors


def derive_token_party(cdr: dict[str, Any], warnings: list[Problem] | None) -> None:
    """Fill ``cdr_token.country_code/party_id`` from the eMA-ID when absent (warned if a list is given)."""
    token = cdr.get("cdr_token")
    if not isinstance(token, dict) or ("country_code" in token and "party_id" in token):
        return
    party = party_from_contract_id(token.get("contract_id"))
    if party is None:
        return
    missing = [k for k in ("country_code", "party_id") if k not in token]
    filled = {"country_code": party[0], "party_id": party[1]}
    cdr["cdr_token"] = {**{k: filled[k] for k in missing}, **token}
    if warnings is not None:
        warnings.append(Problem(
            code=TOKEN_PARTY_DERIVED, severity="warning", path="cdr_token." + missing[0],
            message=f"cdr_token has no {' or '.join(missing)} (mandatory since OCPI 2.2.1); "
                    f"derived {'/'.join(filled[k] for k in missing)} from contract_id {token.get('contract_id')!r}"))


# ---- after validation: numbers -> Decimal, DateTimes -> datetime -----------------------------

def _dec(value: Any) -> Any:
    return Decimal(value) if type(value) is int else value


def _price(price: Any) -> None:
    if isinstance(price, dict):
        for key in ("excl_vat", "incl_vat"):
            if key in price:
                price[key] = _dec(price[key])


def _times(obj: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = obj.get(key)
        if type(value) is str:
            obj[key] = datetimes.parse(value)


_CDR_PRICES = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
               "total_parking_cost", "total_reservation_cost")
_RESTRICTION_NUMBERS = ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power",
                        "min_duration", "max_duration")


def to_typed_tariff(tariff: dict[str, Any]) -> dict[str, Any]:
    """Schema-valid tariff dict (in place): numbers to Decimal, DateTimes to UTC datetimes."""
    _times(tariff, ("start_date_time", "end_date_time", "last_updated"))
    _price(tariff.get("min_price"))
    _price(tariff.get("max_price"))
    for element in tariff.get("elements") or ():
        for pc in element.get("price_components") or ():
            for key in ("price", "vat", "step_size"):
                if type(pc.get(key)) is int:  # (only ints change: the rest are Decimal already)
                    pc[key] = Decimal(pc[key])
        restrictions = element.get("restrictions")
        if restrictions:
            for key in _RESTRICTION_NUMBERS:
                if key in restrictions:
                    restrictions[key] = _dec(restrictions[key])
    mix = tariff.get("energy_mix")
    if isinstance(mix, dict):
        for source in mix.get("energy_sources") or ():
            if "percentage" in source:
                source["percentage"] = _dec(source["percentage"])
        for impact in mix.get("environ_impact") or ():
            if "amount" in impact:
                impact["amount"] = _dec(impact["amount"])
    return tariff


def to_typed_cdr(cdr: dict[str, Any]) -> dict[str, Any]:
    """Schema-valid CDR dict (in place): numbers to Decimal, DateTimes to UTC datetimes.

    Tolerates absent fields, so the lenient pricing normalisation can use it too.
    """
    _times(cdr, ("start_date_time", "end_date_time", "last_updated"))
    for key in ("total_energy", "total_time", "total_parking_time"):
        if key in cdr:
            cdr[key] = _dec(cdr[key])
    for key in _CDR_PRICES:
        _price(cdr.get(key))
    for period in cdr.get("charging_periods") or ():
        value = period.get("start_date_time")
        if type(value) is str:
            period["start_date_time"] = datetimes.parse(value)
        for dim in period.get("dimensions") or ():
            if type(dim.get("volume")) is int:  # (only ints change: the rest are Decimal already)
                dim["volume"] = Decimal(dim["volume"])
    for tariff in cdr.get("tariffs") or ():
        to_typed_tariff(tariff)
    signed = cdr.get("signed_data")
    if isinstance(signed, dict) and "encoding_method_version" in signed:
        signed["encoding_method_version"] = _dec(signed["encoding_method_version"])
    return cdr
