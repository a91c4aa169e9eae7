"""engine/intake/typedcopy.py: accept's one-walk path gives exactly what the explaining path gives."""

from __future__ import annotations

import copy
import importlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.intake import accept, read_items, typedcopy

from .conftest import fixture_names, load

accept_module = importlib.import_module("engine.intake.accept")  # (the package exports the function)
CORPUS = Path(__file__).resolve().parents[2] / "samples" / "cdrs"


def typed(value: Any) -> Any:
    """The value with every type and key order spelled out (``==`` says 1 == 1.0 == Decimal(1))."""
    if isinstance(value, dict):
        return (type(value).__name__, [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    return (type(value).__name__, value)


def outcome(result: Any) -> Any:
    return (typed(result.cdr), result.version, result.problems, result.warnings, result.key, typed(result.raw))


class _Counting:
    """``_accept_valid`` counting the CDRs it took (so a test knows the path was exercised)."""

    def __init__(self) -> None:
        self.taken = 0
        self.real = accept_module._accept_valid

    def __call__(self, data: Any) -> Any:
        result = self.real(data)
        self.taken += result is not None
        return result


def both_ways(data: Any, monkeypatch: pytest.MonkeyPatch, counter: _Counting) -> None:
    """accept() with and without the one-walk path (each on its own copy): the same outcome, and
    the one-walk path leaves its input as it was. (The explaining path shares a dict or list
    subclass with the input rather than copying it, so it may type it in place; that stays so.)"""
    fast_data, slow_data = copy.deepcopy(data), copy.deepcopy(data)
    monkeypatch.setattr(accept_module, "_accept_valid", counter)
    taken = counter.taken
    fast = accept(fast_data, default_party=("NL", "ABC"))
    monkeypatch.setattr(accept_module, "_accept_valid", lambda data: None)
    slow = accept(slow_data, default_party=("NL", "ABC"))
    assert outcome(fast) == outcome(slow)
    if counter.taken > taken:
        assert typed(fast_data) == typed(data)


def full_cdr() -> dict[str, Any]:
    """A valid 2.2.1 CDR with every optional field the schema knows, numbers as int and Decimal."""
    cdr = load("ocpi-spec_2.2.1-bugfixes_cdr_example.json")
    tariff = cdr["tariffs"][0]
    tariff["tariff_alt_text"] = [{"language": "en", "text": "2 euro p/hour"}]
    tariff["tariff_alt_url"] = "https://example.com/tariff"
    tariff["min_price"] = {"excl_vat": 1, "incl_vat": Decimal("1.21")}
    tariff["max_price"] = {"excl_vat": Decimal("100.00")}
    tariff["elements"].append({
        "price_components": [{"type": "TIME", "price": 2, "vat": 21, "step_size": 60}],
        "restrictions": {"start_time": "08:00", "end_time": "18:00", "start_date": "2015-06-01",
                         "end_date": "2015-07-01", "min_kwh": 1, "max_kwh": Decimal("50.5"),
                         "min_current": Decimal("6"), "max_current": 32, "min_power": 1, "max_power": Decimal("11.0"),
                         "min_duration": 60, "max_duration": 7200, "day_of_week": ["MONDAY", "FRIDAY"],
                         "reservation": "RESERVATION"}})
    tariff["start_date_time"] = "2015-01-01T00:00:00Z"
    tariff["end_date_time"] = "2016-01-01T00:00:00.5Z"
    tariff["energy_mix"] = {"is_green_energy": False, "supplier_name": "Greenpeace Energy",
                            "energy_product_name": "eco-power",
                            "energy_sources": [{"source": "SOLAR", "percentage": 80},
                                               {"source": "WIND", "percentage": Decimal("20.0")}],
                            "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": Decimal("0.5")}]}
    cdr["tariffs"].append(dict(tariff, id="13", country_code="be", party_id="bec"))
    cdr["country_code"], cdr["cdr_token"]["party_id"] = "be", "abc"
    cdr["cdr_location"]["country"] = "bel"
    cdr["cdr_location"]["name"], cdr["cdr_location"]["state"] = "Gent Zuid", "Oost-Vlaanderen"
    cdr["signed_data"] = {"encoding_method": "OCMF", "encoding_method_version": 1, "public_key": "abc",
                          "signed_values": [{"nature": "Start", "plain_data": "x", "signed_data": "y"}],
                          "url": "https://example.com/s"}
    cdr["total_fixed_cost"] = {"excl_vat": 1}
    cdr["total_energy_cost"] = {"excl_vat": Decimal("2.5"), "incl_vat": 3}
    cdr["total_time_cost"] = {"excl_vat": 0}
    cdr["total_parking_cost"] = {"excl_vat": Decimal("0.00"), "incl_vat": Decimal("0.00")}
    cdr["total_reservation_cost"] = {"excl_vat": 0, "incl_vat": 0}
    cdr["total_energy"], cdr["total_time"], cdr["total_parking_time"] = 15, Decimal("1.973"), 0
    cdr["charging_periods"][0]["tariff_id"] = "12"
    cdr.update(remark="ok", invoice_reference_id="inv-1", credit=False, home_charging_compensation=False)
    return cdr


def test_the_full_cdr_takes_the_one_walk_path_unchanged(monkeypatch):
    counter = _Counting()
    both_ways(full_cdr(), monkeypatch, counter)
    assert counter.taken == 1


@pytest.mark.parametrize("name", fixture_names("*cdr*.json"))
def test_fixtures(name, monkeypatch):
    both_ways(load(name), monkeypatch, _Counting())


def test_sample_cdrs(monkeypatch):
    counter = _Counting()
    count = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        for item in read_items(io.BytesIO(path.read_bytes()), path.name):
            if item.data is not None:
                both_ways(item.data, monkeypatch, counter)
                count += 1
    assert count and counter.taken


class _Dict(dict):
    pass


class _List(list):
    pass


class _Str(str):
    pass


# What may replace any value of the full CDR: every kind the two paths could treat differently.
REPLACEMENTS = [
    7, -1, 0, Decimal("1.0"), Decimal("-2.50"), Decimal("NaN"), Decimal("-Infinity"), 1.5, float("nan"), True,
    None, "2.00", "de", "DEU", "deu", "de-x", "ßa", "ﬀ", "eur", "2015-06-29T20:39:09+02:00",
    "2015-06-29T20:39:09+00:00", "2015-06-29T20:39:09", "0999-01-01T00:00:00Z", "2015-06-29T24:00:00Z",
    "2015-02-30T00:00:00Z", [], {}, ["MONDAY"], {"excl_vat": 1},
]


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, path + (index,))
    return out


def _replaced(data: Any, path: tuple, how: Any) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = how(parent[path[-1]]) if callable(how) else how
    return data


def _subclassed(value: Any) -> Any:
    if type(value) is dict:
        return _Dict(value)
    if type(value) is list:
        return _List(value)
    if type(value) is str:
        return _Str(value)
    return value


@pytest.mark.parametrize("path", _paths(full_cdr()), ids=lambda p: ".".join(map(str, p)))
def test_every_field_mutated(path, monkeypatch):
    counter = _Counting()
    data = full_cdr()
    for how in [*REPLACEMENTS, "delete", _subclassed]:
        both_ways(_replaced(data, path, how), monkeypatch, counter)


def test_json_lines_mutations_agree(monkeypatch):
    """Mutated corpus lines as read from bytes (ints, Decimals, strings as the reader makes them)."""
    line = json.dumps(json.loads((Path(__file__).resolve().parents[1] / "data" / "ocpi"
                                  / "ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json").read_text()))
    variants = [line, line.replace('"Z"', '"z"'), line.replace(":00Z", ":00+01:00"), line.replace('"EUR"', '"eur"'),
                line.replace(".0,", ".0e0,"), line.replace("1,", "1.0,")]
    counter = _Counting()
    for text in variants:
        for item in read_items(io.BytesIO(text.encode()), "mutated"):
            both_ways(item.data, monkeypatch, counter)
    assert counter.taken


def test_unusual_is_raised_not_guessed():
    cdr = full_cdr()
    cdr["total_energy"] = 1.5
    with pytest.raises(typedcopy.Unusual):
        typedcopy.typed_cdr(cdr)
