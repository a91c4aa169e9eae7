"""engine/intake/normalise.py (+ datetimes, emi3): the normalised shape of docs/configuration.md."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from engine.intake import accept, normalise, normalise_for_pricing, normalise_tariff
from engine.intake.emi3 import party_from_contract_id, party_from_evse_id

from .conftest import (CODEBERG, MISSPELLED_TARIFF, OCN_CDR, OCN_TARIFF, SPEC_CDR, TAG_CDR, by_code, codes,
                       fixture_names, load)

UTC = timezone.utc


def leaves(value: Any, path: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


@pytest.mark.parametrize("name", [SPEC_CDR, CODEBERG, OCN_CDR])
def test_every_number_is_decimal_and_every_datetime_aware_utc(name):
    result = accept(load(name))
    assert result.accepted, result.problems
    for path, value in leaves(result.cdr):
        assert not isinstance(value, float), path
        assert not (isinstance(value, int) and not isinstance(value, bool)), path  # ints too are Decimal
        if isinstance(value, datetime):
            assert value.tzinfo is UTC, path
        if path.endswith(("date_time", "last_updated")):
            assert isinstance(value, datetime), path


def test_spec_example_normalised_values(spec_cdr):
    cdr = accept(spec_cdr).cdr
    assert cdr["start_date_time"] == datetime(2015, 6, 29, 21, 39, 9, tzinfo=UTC)
    assert cdr["total_cost"] == {"excl_vat": Decimal("4.00"), "incl_vat": Decimal("4.40")}
    assert str(cdr["total_cost"]["excl_vat"]) == "4.00"
    pc = cdr["tariffs"][0]["elements"][0]["price_components"][0]
    assert pc == {"type": "TIME", "price": Decimal("2.00"), "vat": Decimal("10.0"), "step_size": Decimal(300)}
    assert cdr["charging_periods"][0]["dimensions"][0]["volume"] == Decimal("1.973")


def test_datetime_without_z_is_utc(spec_cdr):
    spec_cdr["start_date_time"] = "2015-06-29T21:39:09"
    spec_cdr["charging_periods"][0]["start_date_time"] = "2015-06-29T21:39:09.12345"  # 25 chars
    result = accept(spec_cdr)
    assert result.accepted and result.warnings == []
    assert result.cdr["start_date_time"] == datetime(2015, 6, 29, 21, 39, 9, tzinfo=UTC)
    assert result.cdr["charging_periods"][0]["start_date_time"].microsecond == 123400


def test_plus_zero_offset_is_accepted_with_a_warning(spec_cdr):
    spec_cdr["end_date_time"] = "2015-06-29T23:37:32+00:00"
    result = accept(spec_cdr)
    assert result.accepted
    assert result.cdr["end_date_time"] == datetime(2015, 6, 29, 23, 37, 32, tzinfo=UTC)
    assert by_code(result.warnings, "datetime.utc_offset").path == "end_date_time"


def test_other_offset_is_converted_to_utc_with_a_warning(spec_cdr):
    spec_cdr["end_date_time"] = "2015-06-30T01:37:32+02:00"
    result = accept(spec_cdr)
    assert result.cdr["end_date_time"] == datetime(2015, 6, 29, 23, 37, 32, tzinfo=UTC)
    assert by_code(result.warnings, "datetime.not_utc").path == "end_date_time"


def test_codes_upper_cased(spec_cdr):
    spec_cdr["country_code"] = "be"
    spec_cdr["party_id"] = "bec"
    spec_cdr["cdr_token"]["party_id"] = "tnm"
    spec_cdr["cdr_location"]["country"] = "bel"
    result = accept(spec_cdr)
    assert result.accepted and result.key == ("BE", "BEC", "12345")
    assert result.cdr["cdr_token"]["party_id"] == "TNM"
    assert result.cdr["cdr_location"]["country"] == "BEL"
    assert result.warnings == []  # CiStrings are case-insensitive: nothing to warn about


def test_lower_case_currency_upper_cased_with_warning(spec_cdr):
    spec_cdr["currency"] = "eur"
    result = accept(spec_cdr)
    assert result.cdr["currency"] == "EUR"
    assert by_code(result.warnings, "currency.lower_case").path == "currency"


def test_numeric_strings_where_a_number_is_wanted(spec_cdr):
    spec_cdr["total_cost"] = {"excl_vat": "4.00", "incl_vat": "4.40"}
    spec_cdr["total_time"] = "1.973"
    result = accept(spec_cdr)
    assert result.accepted
    assert result.cdr["total_cost"]["incl_vat"] == Decimal("4.40")
    assert {w.path for w in result.warnings} == {"total_cost.excl_vat", "total_cost.incl_vat", "total_time"}


@pytest.mark.parametrize("bad", ["4,00", "NaN", "Infinity", "1e5x", "", " 4"])
def test_non_numeric_strings_are_rejected(spec_cdr, bad):
    spec_cdr["total_energy"] = bad
    result = accept(spec_cdr)
    assert by_code(result.problems, "schema.type").path == "total_energy"


def test_floats_from_python_callers_become_exact_decimals(spec_cdr):
    spec_cdr["total_energy"] = 15.342
    spec_cdr["tariffs"][0]["elements"][0]["price_components"][0]["step_size"] = 300.0
    result = accept(spec_cdr)
    assert result.cdr["total_energy"] == Decimal("15.342")
    assert result.cdr["tariffs"][0]["elements"][0]["price_components"][0]["step_size"] == 300


def test_token_party_derived_from_contract_id_with_warning():
    result = accept(load(TAG_CDR))
    assert result.accepted
    assert (result.cdr["cdr_token"]["country_code"], result.cdr["cdr_token"]["party_id"]) == ("DE", "8AC")
    warning = by_code(result.warnings, "token.party_derived")
    assert warning.path == "cdr_token.country_code" and "DE8ACC12E46L89" in warning.message


@pytest.mark.parametrize("contract_id, party", [
    ("DE-TNM-C12345678-X", ("DE", "TNM")), ("DETNMC12345678X", ("DE", "TNM")), ("de-tnm-c12345678-x", ("DE", "TNM")),
    ("NL-EFF-C1154RKPF-C", ("NL", "EFF")), ("DE*TNM*C12345678*X", ("DE", "TNM")),
    ("012345678", None), ("XX-ABC-C12345678", None), ("DE-TNM*C1234567", None), ("DETNM", None), (42, None),
])
def test_ema_id_prefix(contract_id, party):
    assert party_from_contract_id(contract_id) == party


@pytest.mark.parametrize("evse_id, party", [
    ("BE*BEC*E041503003", ("BE", "BEC")), ("BE-BEC-E041503003", ("BE", "BEC")), ("BEBECE041503003", ("BE", "BEC")),
    ("FR*55C*E78000*48*796610*2*136693*1", ("FR", "55C")), ("3256", None), ("BB-5983-3", None),
])
def test_evse_id_prefix(evse_id, party):
    assert party_from_evse_id(evse_id) == party


def test_token_without_party_and_without_ema_id_is_rejected(spec_cdr):
    del spec_cdr["cdr_token"]["country_code"]
    del spec_cdr["cdr_token"]["party_id"]
    spec_cdr["cdr_token"]["contract_id"] = "012345678"
    result = accept(spec_cdr)
    assert {p.path for p in result.problems} == {"cdr_token.country_code", "cdr_token.party_id"}


def test_alpha2_location_country_becomes_alpha3_with_warning():
    result = accept(load(OCN_CDR))
    assert result.cdr["cdr_location"]["country"] == "DEU"
    assert by_code(result.warnings, "country.alpha2").path == "cdr_location.country"


def test_input_is_not_mutated(spec_cdr):
    spec_cdr["start_date_time"] = "2015-06-29T21:39:09"
    before = load(SPEC_CDR)
    before["start_date_time"] = "2015-06-29T21:39:09"
    result = accept(spec_cdr)
    assert spec_cdr == before and result.raw is spec_cdr


# -- tariffs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in fixture_names("ocpi-spec_2.2.1-bugfixes_tariff*.json")
                                  if "put_example" not in n])
def test_every_2_2_1_tariff_example_normalises(name):
    tariff, problems = normalise_tariff(load(name))
    assert tariff is not None, problems
    assert problems == []
    assert tariff["last_updated"].tzinfo is UTC
    for path, value in leaves(tariff):
        assert not isinstance(value, (float, int)) or isinstance(value, bool), path


def test_tariff_put_body_without_last_updated_is_rejected():
    tariff, problems = normalise_tariff(load("ocpi-spec_2.2.1-bugfixes_tariff_put_example.json"))
    assert tariff is None
    assert [(p.code, p.path) for p in problems] == [("schema.required", "last_updated")]


@pytest.mark.parametrize("name", [n for n in fixture_names("ocpi-spec_2.1.1-bugfixes_tariff_*.json")
                                  if "put_" not in n])
def test_2_1_1_tariffs_need_the_owner_party(name):
    tariff, problems = normalise_tariff(load(name))
    assert tariff is None and {p.path for p in problems} == {"country_code", "party_id"}
    assert "default party" in problems[0].message
    tariff, problems = normalise_tariff(load(name), default_party=("BE", "BEC"))
    assert tariff is not None, problems
    assert (tariff["country_code"], tariff["party_id"]) == ("BE", "BEC")


def test_misspelled_tariff_is_rejected_with_did_you_mean():
    tariff, problems = normalise_tariff(load(MISSPELLED_TARIFF))
    assert tariff is None
    messages = {p.path: p.message for p in problems if p.is_error}
    assert "did you mean 'day_of_week'" in messages["elements[0].restrictions.dayOfWeek"]
    assert "country_code" in messages and "last_updated" in messages
    assert by_code(problems, "currency.lower_case").severity == "warning"


def test_vat_given_as_a_fraction_is_a_warning():
    tariff, problems = normalise_tariff(load(OCN_TARIFF))
    assert tariff is not None
    warning = by_code(problems, "tariff.vat_as_fraction")
    assert warning.path == "elements[0].price_components[0].vat" and "7.7" in warning.message


def test_tariff_not_an_object():
    assert normalise_tariff([1, 2])[1][0].code == "cdr.not_object"


def test_tariff_unknown_currency():
    data = load("ocpi-spec_2.2.1-bugfixes_tariff_1_simple_2hour.json")
    data["currency"] = "EUO"
    tariff, problems = normalise_tariff(data)
    assert tariff is None and by_code(problems, "tariff.unknown_currency").path == "currency"


# -- lenient normalisation for `cdrflow price` -------------------------------------------------------

def minimal_for_pricing() -> dict[str, Any]:
    return {
        "start_date_time": "2015-06-29T21:39:09Z",
        "end_date_time": "2015-06-29T23:37:32",
        "currency": "EUR",
        "cdr_location": {"country": "be"},
        "charging_periods": [{"start_date_time": "2015-06-29T21:39:09Z",
                              "dimensions": [{"type": "TIME", "volume": "1.973"}], "tariff_id": "12"}],
        "tariffs": [{"id": "12", "currency": "EUR",
                     "elements": [{"price_components": [{"type": "TIME", "price": "2.00", "step_size": 300}]}]}],
        "total_cost": {"excl_vat": 4.00},
        "expected": {"note": "fields a test harness adds are ignored at the top level"},
    }


def test_pricing_accepts_a_partial_cdr():
    cdr, problems = normalise_for_pricing(minimal_for_pricing())
    assert cdr is not None, problems
    assert all(not p.is_error for p in problems)
    assert cdr["end_date_time"] == datetime(2015, 6, 29, 23, 37, 32, tzinfo=UTC)
    assert cdr["cdr_location"]["country"] == "BEL"
    assert cdr["tariffs"][0]["elements"][0]["price_components"][0]["price"] == Decimal("2.00")
    assert cdr["charging_periods"][0]["dimensions"][0]["volume"] == Decimal("1.973")


def test_pricing_still_reports_bad_values_in_present_fields():
    data = minimal_for_pricing()
    data["charging_periods"][0]["dimensions"][0]["type"] = "ENERGYY"
    data["tariffs"][0]["elements"][0]["restrictions"] = {"dayOfWeek": ["MONDAY"]}
    data["currency"] = "EUO"
    del data["charging_periods"][0]["start_date_time"]
    cdr, problems = normalise_for_pricing(data)
    assert cdr is None
    errors = {(p.code, p.path) for p in problems if p.is_error}
    assert errors == {
        ("schema.enum", "charging_periods[0].dimensions[0].type"),
        ("schema.additionalProperties", "tariffs[0].elements[0].restrictions.dayOfWeek"),
        ("schema.required", "charging_periods[0].start_date_time"),
    }


def test_pricing_requires_what_pricing_needs():
    data = minimal_for_pricing()
    del data["start_date_time"]
    del data["currency"]
    cdr, problems = normalise_for_pricing(data)
    assert cdr is None
    assert {p.path for p in problems if p.is_error} == {"start_date_time", "currency"}


def test_pricing_runs_the_checks():
    data = minimal_for_pricing()
    data["end_date_time"] = "2015-06-29T20:00:00Z"
    data["currency"] = "EUO"
    cdr, problems = normalise_for_pricing(data)
    assert cdr is None
    assert set(codes(p for p in problems if p.is_error)) == {"cdr.end_before_start", "cdr.unknown_currency"}


def test_pricing_accepts_2_1_1_and_full_cdrs():
    cdr, problems = normalise_for_pricing(load("ocpi-spec_2.1.1-bugfixes_cdr_example.json"))
    assert cdr is not None and cdr["total_cost"]["excl_vat"] == Decimal("4.00")
    cdr, problems = normalise_for_pricing(load(CODEBERG))
    assert cdr is not None and len(cdr["tariffs"][0]["elements"]) == 48
    assert normalise_for_pricing("nope")[0] is None


def _typed_tree(value: Any) -> Any:
    """The value with every type spelled out (``==`` says 1 == 1.0 == Decimal(1))."""
    if isinstance(value, dict):
        return {k: _typed_tree(v) for k, v in value.items()}, list(value)
    if isinstance(value, list):
        return [_typed_tree(v) for v in value]
    return type(value), value


def _walked(data: Any) -> tuple[Any, list, list]:
    walker = normalise._Prenormaliser()
    return walker.obj(data, 0), walker.warnings, walker.errors


@pytest.mark.parametrize("name", fixture_names("*.json"))
def test_plain_copy_is_exactly_the_explaining_walk(name):
    data = load(name)
    copy, warnings, errors = normalise.prenormalise(data)
    expected, expected_warnings, expected_errors = _walked(data)
    assert _typed_tree(copy) == _typed_tree(expected)
    assert (warnings, errors) == (expected_warnings, expected_errors)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("field, value", [
    ("currency", "eur"), ("currency", "EU"), ("currency", "ÉUR"), ("country_code", "de"), ("total_energy", "2.00"),
    ("total_energy", 1.5), ("total_energy", Decimal("NaN")), ("start_date_time", "2015-06-29T20:39:09"),
    ("start_date_time", "2015-06-29T20:39:09+02:00"), ("signed_data", {"encoding_method_version": Decimal("1.0")}),
    ("cdr_location", {"country": "de"}), ("cdr_location", {"country": "deu"}), ("cdr_location", {"country": "ßab"}),
    ("nested", _nested(18)), ("odd", {1, 2}), ("odd", [Decimal("Infinity")]),
])
def test_plain_copy_agrees_with_the_walk_on_unusual_input(spec_cdr, field, value):
    spec_cdr[field] = value
    copy, warnings, errors = normalise.prenormalise(spec_cdr)
    expected, expected_warnings, expected_errors = _walked(spec_cdr)
    assert _typed_tree(copy) == _typed_tree(expected)
    assert (warnings, errors) == (expected_warnings, expected_errors)
