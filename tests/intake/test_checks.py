"""engine/intake/checks.py: the rules a schema cannot express."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from random import Random

from engine.intake import accept, cdrline, checks
from engine.intake.reader import _line_value

from .conftest import CODEBERG, OCN_CDR, by_code, codes, load
from .test_cdrline import canonical, fast_cdr, line_of


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


# ---- quiet_line_cdr: the CdrLine path's shortcut, judged by check_cdr ----------------------------

_SESSION = ("2015-06-29T21:39:09Z", "2015-06-29T23:37:32Z")  # (the fast CDR's start and end)
_TIMES = ["2015-06-29T20:39:08Z", "2015-06-29T20:39:09Z", "2015-06-29T21:39:09Z", "2015-06-29T22:00:00Z",
          "2015-06-29T23:37:32Z", "2015-06-29T23:37:33Z", "2014-01-01T00:00:00Z"]
_AMOUNTS = [0, Decimal("-0.0"), Decimal("0.00"), -1, Decimal("-0.01"), 1, Decimal("2.5"), 100]
_DIMENSIONS = ["ENERGY", "TIME", "PARKING_TIME", "FLAT", "CURRENT", "POWER", "STATE_OF_CHARGE",
               "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT", "MIN_POWER", "RESERVATION_TIME"]


def _edits(rng: Random, cdr: dict) -> None:
    """A few of the values check_cdr judges, each set to an ordinary or a boundary value."""
    def tariff() -> dict:  # (one of the CDR's, or a stray one when it has none left)
        return rng.choice(cdr.get("tariffs") or [{"elements": [{"price_components": [{}]}]}])

    edits = [
        lambda: cdr.update(start_date_time=rng.choice(_TIMES + [_SESSION[0]])),
        lambda: cdr.update(end_date_time=rng.choice(_TIMES + [_SESSION[1]])),
        lambda: rng.choice(cdr["charging_periods"]).update(start_date_time=rng.choice(_TIMES)),
        lambda: cdr["charging_periods"].append(
            {"start_date_time": rng.choice(_TIMES), "dimensions": [{"type": rng.choice(_DIMENSIONS), "volume": 1}]}),
        lambda: rng.choice(cdr["charging_periods"])["dimensions"][0].update(type=rng.choice(_DIMENSIONS)),
        lambda: cdr.update(credit=rng.choice([True, False])),
        lambda: cdr.pop("credit", None),
        lambda: cdr.update(credit_reference_id=rng.choice(["", "orig-1"])),
        lambda: cdr.update(id="x" * rng.choice([1, 35, 36, 37, 39])),
        lambda: cdr.update({rng.choice(checks.PRICES): {"excl_vat": rng.choice(_AMOUNTS)}}),
        lambda: cdr.update({rng.choice(checks.PRICES): {"excl_vat": rng.choice(_AMOUNTS),
                                                        "incl_vat": rng.choice(_AMOUNTS)}}),
        lambda: cdr.pop(rng.choice(checks.PRICES[1:]), None),
        lambda: cdr.update({rng.choice(["total_energy", "total_time", "total_parking_time"]): rng.choice(_AMOUNTS)}),
        lambda: cdr.pop("total_parking_time", None),
        lambda: cdr.update(currency=rng.choice(["EUR", "USD", "ABC", "XXX"])),
        lambda: tariff().update(currency=rng.choice(["EUR", "USD", "ABC"])),
        lambda: tariff().update(min_price={"excl_vat": rng.choice(_AMOUNTS[:3] + _AMOUNTS[5:]),
                                                             "incl_vat": rng.choice(_AMOUNTS[5:])}),
        lambda: tariff().update(end_date_time=rng.choice(_TIMES)),
        lambda: tariff()["elements"][0]["price_components"][0].update(
            vat=rng.choice([0, Decimal("0.2"), Decimal("0.99"), 1, 21])),
        lambda: cdr.update(tariffs=cdr["tariffs"][:rng.choice([0, 1])]),
    ]
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        rng.choice(edits)()


def test_a_quiet_line_cdr_is_one_check_cdr_finds_nothing_in():
    """quiet ⇒ check_cdr gives ([], []); and for a non-credit CDR the converse, so the shortcut
    is taken whenever it can be (2,000 CDRs with boundary times, amounts, types and currencies)."""
    rng, seen = Random(5), Counter()
    for _ in range(2000):
        data = fast_cdr()
        data["currency"] = "EUR"
        _edits(rng, data)
        line = cdrline.decode(line_of(canonical(data)), _line_value)
        cdr = None if line is None else cdrline.typed_cdr(line)
        if cdr is None:
            continue
        quiet, found = checks.quiet_line_cdr(cdr, line.tariff_currencies), checks.check_cdr(cdr)
        assert not quiet or found == ([], []), line.text
        if not cdr.get("credit"):
            assert quiet == (found == ([], [])), (line.text, found)
        seen[quiet, bool(found[0]), bool(found[1])] += 1
    assert seen[True, False, False] > 400 and seen[False, True, False] > 80 and seen[False, False, True] > 150, seen


def test_tariff_findings_are_remembered_with_the_tariffs_text():
    data = canonical({**fast_cdr(), "currency": "EUR"})
    line = cdrline.decode(line_of(data), _line_value)
    assert cdrline.typed_cdr(line) is not None and line.tariff_currencies == ("EUR",)
    data["tariffs"][0]["elements"][0]["price_components"][0]["vat"] = Decimal("0.2")
    line = cdrline.decode(line_of(data), _line_value)
    assert cdrline.typed_cdr(line) is not None and line.tariff_currencies is None
    del data["tariffs"]
    line = cdrline.decode(line_of(data), _line_value)
    assert cdrline.typed_cdr(line) is not None and line.tariff_currencies == ()
