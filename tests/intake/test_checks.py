"""engine/intake/checks.py: the rules a schema cannot express."""

from __future__ import annotations

from engine.intake import accept

from .conftest import CODEBERG, OCN_CDR, by_code, codes, load


def test_end_before_start_is_rejected(spec_cdr):
    spec_cdr["end_date_time"] = "2015-06-29T20:00:00Z"
    result = accept(spec_cdr)
    assert not result.accepted and result.key == ("BE", "BEC", "12345")
    assert by_code(result.problems, "cdr.end_before_start").path == "end_date_time"


def test_end_equal_to_start_is_fine(spec_cdr):
    spec_cdr["end_date_time"] = spec_cdr["start_date_time"]
    assert accept(spec_cdr).accepted


def test_charging_period_outside_the_session_is_a_warning(spec_cdr):
    spec_cdr["charging_periods"][0]["start_date_time"] = "2015-06-29T19:00:00Z"  # > 1 h before start
    result = accept(spec_cdr)
    assert result.accepted
    assert by_code(result.warnings, "cdr.period_outside_session").path == "charging_periods[0].start_date_time"


def test_period_starting_shortly_before_the_session_is_tolerated():
    result = accept(load(CODEBERG))  # periods aligned to the UTC hour, 20 min before the start
    assert result.accepted and "cdr.period_outside_session" not in codes(result.warnings)


def test_periods_out_of_order_are_warned(spec_cdr):
    period = spec_cdr["charging_periods"][0]
    spec_cdr["charging_periods"] = [{**period, "start_date_time": "2015-06-29T22:00:00Z"}, period]
    assert by_code(accept(spec_cdr).warnings, "cdr.periods_not_ascending")


def test_negative_total_only_on_credit_cdrs(spec_cdr):
    spec_cdr["total_cost"] = {"excl_vat": -4.00, "incl_vat": -4.40}
    result = accept(spec_cdr)
    assert {p.path for p in result.problems if p.code == "cdr.negative_total"} == {
        "total_cost.excl_vat", "total_cost.incl_vat"}
    spec_cdr["id"] = "12345-C"
    spec_cdr["credit"] = True
    spec_cdr["credit_reference_id"] = "12345"
    result = accept(spec_cdr)
    assert result.accepted, result.problems
    assert str(result.cdr["total_cost"]["excl_vat"]) == "-4.0"


def test_credit_cdr_must_name_its_original(spec_cdr):
    spec_cdr["credit"] = True
    result = accept(spec_cdr)
    assert by_code(result.problems, "cdr.credit_without_reference").path == "credit_reference_id"


def test_credit_with_positive_total_is_warned(spec_cdr):
    spec_cdr.update(credit=True, credit_reference_id="12344")
    assert by_code(accept(spec_cdr).warnings, "cdr.credit_total_not_negative")


def test_reference_without_credit_flag_is_warned(spec_cdr):
    spec_cdr["credit_reference_id"] = "12344"
    result = accept(spec_cdr)
    assert result.accepted and by_code(result.warnings, "cdr.reference_without_credit")


def test_unknown_currency(spec_cdr):
    spec_cdr["currency"] = "EUO"
    result = accept(spec_cdr)
    assert by_code(result.problems, "cdr.unknown_currency").path == "currency"
    spec_cdr["currency"] = "EUR"
    spec_cdr["tariffs"][0]["currency"] = "XXX"
    assert by_code(accept(spec_cdr).problems, "cdr.unknown_currency").path == "tariffs[0].currency"


def test_tariff_in_another_currency_is_warned(spec_cdr):
    spec_cdr["tariffs"][0]["currency"] = "CHF"
    assert by_code(accept(spec_cdr).warnings, "cdr.tariff_currency_mismatch").path == "tariffs[0].currency"


def test_non_credit_id_longer_than_36(spec_cdr):
    spec_cdr["id"] = "x" * 37
    assert by_code(accept(spec_cdr).problems, "cdr.id_too_long").path == "id"
    spec_cdr.update(credit=True, credit_reference_id="x" * 36, total_cost={"excl_vat": -4})
    assert accept(spec_cdr).accepted
    spec_cdr["id"] = "x" * 40
    assert by_code(accept(spec_cdr).problems, "schema.maxLength").path == "id"


def test_negative_energy_and_time(spec_cdr):
    spec_cdr["total_energy"] = -1
    spec_cdr["total_time"] = "-0.5"
    spec_cdr["total_parking_time"] = -2
    result = accept(spec_cdr)
    found = {(p.code, p.path) for p in result.problems}
    assert found == {("cdr.negative_energy", "total_energy"), ("cdr.negative_time", "total_time"),
                     ("cdr.negative_time", "total_parking_time")}


def test_incl_vat_below_excl_vat_is_a_warning():
    result = accept(load(OCN_CDR))
    assert result.accepted
    assert by_code(result.warnings, "price.incl_vat_below_excl_vat").path == "total_cost.incl_vat"


def test_vat_as_fraction_in_an_embedded_tariff(spec_cdr):
    spec_cdr["tariffs"][0]["elements"][0]["price_components"][0]["vat"] = 0.1
    result = accept(spec_cdr)
    assert result.accepted
    assert by_code(result.warnings, "tariff.vat_as_fraction").path == "tariffs[0].elements[0].price_components[0].vat"


def test_session_only_dimension_is_a_warning(spec_cdr):
    spec_cdr["charging_periods"][0]["dimensions"].append({"type": "STATE_OF_CHARGE", "volume": 80})
    result = accept(spec_cdr)
    assert result.accepted
    assert by_code(result.warnings, "cdr.session_only_dimension").path == "charging_periods[0].dimensions[1].type"
